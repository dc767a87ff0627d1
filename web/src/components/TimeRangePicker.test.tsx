import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { TimeRangePicker } from './TimeRangePicker';

function Where() {
  const loc = useLocation();
  return <output data-testid="where">{loc.search}</output>;
}

describe('<TimeRangePicker>', () => {
  it('keeps the picked range in the URL and resets the page', () => {
    render(
      <MemoryRouter initialEntries={['/findings?severity=high&page=3']}>
        <TimeRangePicker />
        <Where />
      </MemoryRouter>,
    );
    fireEvent.click(screen.getByTestId('timerange'));
    fireEvent.click(screen.getByRole('button', { name: 'Last 24 hours' }));
    const search = new URLSearchParams(screen.getByTestId('where').textContent ?? '');
    expect(search.get('from')).toBe('now-24h');
    expect(search.get('to')).toBe('now');
    expect(search.get('severity')).toBe('high');
    expect(search.has('page')).toBe(false);
    expect(screen.getByTestId('timerange').textContent).toContain('Last 24 hours');
  });
});
