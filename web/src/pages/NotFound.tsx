import { Link } from 'react-router';

export default function NotFound() {
  return (
    <div className="panel">
      <div className="state">
        <p>There is no page here.</p>
        <Link to="/">Back to the overview</Link>
      </div>
    </div>
  );
}
