import { describe, expect, it } from 'vitest';
import { escalationMethods, groupByPrincipal } from './iam';
import type { IamFinding } from '../api/types';

const f = (principal: string, severity: IamFinding['severity'], method?: string): IamFinding => ({
  check_id: method ? 'iam.privilege_escalation' : 'iam.admin',
  severity,
  principal_type: 'user',
  principal,
  title: 't',
  explanation: 'e',
  method,
  evidence: [],
  remediation: 'r',
  references: [],
  confidence: 'high',
});

describe('iam shaping', () => {
  it('groups by principal, worst first', () => {
    const g = groupByPrincipal([f('bob', 'low'), f('alice', 'high'), f('bob', 'critical'), f('carol', 'medium')]);
    expect(g.map((x) => x.principal)).toEqual(['bob', 'alice', 'carol']);
    expect(g[0]!.worst).toBe('critical');
    expect(g[0]!.findings.map((x) => x.severity)).toEqual(['critical', 'low']);
  });
  it('lists escalation methods by reach', () => {
    const m = escalationMethods([f('a', 'high', 'CreatePolicyVersion'), f('b', 'high', 'CreatePolicyVersion'), f('a', 'high', 'PassRole'), f('a', 'low')]);
    expect(m.map((x) => [x.method, x.principals.length])).toEqual([
      ['CreatePolicyVersion', 2],
      ['PassRole', 1],
    ]);
  });
});
