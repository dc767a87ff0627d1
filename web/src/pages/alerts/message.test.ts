import { describe, expect, it } from 'vitest';
import { messageOf } from './message';

describe('messageOf', () => {
  it('reads a Discord embed', () => {
    const m = messageOf({
      embeds: [{ title: 'T', description: 'D', url: 'https://x/findings/1', fields: [{ name: 'Severity', value: 'high' }] }],
    });
    expect(m).toEqual({ title: 'T', text: 'D', facts: [['Severity', 'high']], link: 'https://x/findings/1' });
  });

  it('reads Slack blocks and the attachment’s fields and button', () => {
    const m = messageOf({
      text: 'fallback',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Header' } },
        { type: 'section', text: { type: 'mrkdwn', text: 'Body *bold*' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Vigilo' }] },
      ],
      attachments: [
        {
          color: '#C4320A',
          blocks: [
            { type: 'section', fields: [{ type: 'mrkdwn', text: '*Risk*\n90' }] },
            { type: 'actions', elements: [{ type: 'button', url: 'https://x/findings/2' }] },
          ],
        },
      ],
    });
    expect(m).toEqual({ title: 'Header', text: 'Body *bold*', facts: [['Risk', '90']], link: 'https://x/findings/2' });
  });

  it('reads the webhook JSON', () => {
    const m = messageOf({ version: 1, kind: 'firing', status: 'firing', severity: 'critical', count: 3, title: 'W', text: 'X', link: null });
    expect(m.title).toBe('W');
    expect(m.text).toBe('X');
    expect(m.link).toBeNull();
    expect(m.facts).toContainEqual(['severity', 'critical']);
    expect(m.facts).toContainEqual(['count', '3']);
  });

  it('copes with anything else', () => {
    expect(messageOf('plain').text).toBe('plain');
    expect(messageOf(null)).toEqual({ title: '', text: '', facts: [], link: null });
    expect(messageOf({ embeds: 'nope' }).title).toBe('');
  });
});
