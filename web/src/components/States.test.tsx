import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { ErrorState } from './States';
import { ApiError } from '../api/client';

describe('<ErrorState>', () => {
  it("shows the API's message and code", () => {
    render(<ErrorState error={new ApiError(400, 'invalid_query', '`from` is after `to`')} />);
    expect(screen.getByRole('alert').textContent).toContain('`from` is after `to`');
    expect(screen.getByText('invalid_query')).toBeTruthy();
  });
});
