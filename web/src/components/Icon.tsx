// A few line icons as inline SVG (no icon font, no emoji: they render the
// same on every machine).
const PATHS: Record<string, string> = {
  overview: 'M3 3h7v9H3zM14 3h7v5h-7zM14 12h7v9h-7zM3 16h7v5H3z',
  findings: 'M5 21V4M5 4h11l-2 4 2 4H5',
  events: 'M4 6h16M4 12h16M4 18h10',
  metrics: 'M3 17l5-6 4 3 5-7 4 4',
  rules: 'M7 3h8l4 4v14H7zM15 3v4h4M10 12h6M10 16h6',
  iam: 'M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6zM9.5 12l2 2 3.5-4',
  pipelines: 'M4 7h10M4 17h6M14 7a3 3 0 106 0 3 3 0 10-6 0M10 17a3 3 0 106 0 3 3 0 10-6 0',
  clock: 'M12 3a9 9 0 100 18 9 9 0 100-18M12 7v5l3 2',
  sun: 'M12 8a4 4 0 100 8 4 4 0 100-8M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4',
  moon: 'M20 14.5A8 8 0 019.5 4 8 8 0 1020 14.5z',
  menu: 'M4 6h16M4 12h16M4 18h16',
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  users: 'M9 11a3.5 3.5 0 100-7 3.5 3.5 0 100 7M2.5 20c.6-3.6 3.2-6 6.5-6s5.9 2.4 6.5 6M16 4.3a3.5 3.5 0 010 6.4M18 14.3c2 .9 3.2 2.9 3.5 5.7',
  key: 'M8 11a4 4 0 100 8 4 4 0 100-8M10.8 12.2L20 3M16 7l3 3M14 9l2 2',
  audit: 'M6 3h12v18H6zM9 8h6M9 12h6M9 16h3',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  compliance: 'M9 4h6v3H9zM7 5.5H5V21h14V5.5h-2M8.5 13l2.5 2.5 4.5-5',
  bell: 'M6 16V11a6 6 0 1112 0v5l1.5 2h-15zM10 20.5a2 2 0 004 0',
};

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 16 }: { name: IconName; size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      style={{ flex: 'none' }}
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
