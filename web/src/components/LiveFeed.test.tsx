import { useEffect } from 'react';
import { describe, expect, it } from 'vitest';
import { act, fireEvent, render, screen } from '@testing-library/react';
import { LiveFeed, useFeed } from './LiveFeed';

type Row = { id: number; title: string };
const api: { current: ReturnType<typeof useFeed<Row>> | null } = { current: null };

function Harness() {
  const feed = useFeed<Row>((r) => r.id, 50);
  useEffect(() => {
    api.current = feed;
  });
  return (
    <LiveFeed
      label="Feed"
      state={feed.state}
      dispatch={feed.dispatch}
      rowKey={(r) => r.id}
      empty={<p>empty</p>}
      renderRow={(r) => <div>{r.title}</div>}
    />
  );
}

describe('<LiveFeed>', () => {
  it('shows new rows at once while idle, behind a pill while the user points at it', () => {
    render(<Harness />);
    expect(screen.getByText('empty')).toBeTruthy();
    act(() => api.current!.push([{ id: 1, title: 'first' }]));
    expect(screen.getByText('first')).toBeTruthy();

    const feed = screen.getByRole('feed');
    fireEvent.mouseEnter(feed);
    act(() => api.current!.push([{ id: 2, title: 'second' }, { id: 3, title: 'third' }]));
    expect(screen.queryByText('second')).toBeNull();
    const pill = screen.getByRole('button', { name: /2 new/ });
    fireEvent.click(pill);
    expect(screen.getByText('second')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /new/ })).toBeNull();
  });
});
