// SPDX-License-Identifier: Apache-2.0
// The learned policy as YAML (fixed key order, sorted lists: the same run writes the same file)
// and its report as Markdown or JSON.
import { stringify } from 'yaml';
import type { Policy, PolicyRule } from '../policy/types.js';
import { allowListComments, type LearnReport } from './profile.js';

function ruleDoc(r: PolicyRule): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name, kinds: r.kinds };
  if (Object.keys(r.match).length > 0) out.match = r.match;
  out.action = r.action;
  if (r.fallback !== undefined) out.fallback = r.fallback;
  return out;
}

/** The policy as a YAML document, headed by comments saying what it came from and how to use it. */
export function policyYaml(policy: Policy, report: LearnReport): string {
  const spec: Record<string, unknown> = { mode: policy.spec.mode };
  if (policy.spec.selector !== undefined) spec.selector = policy.spec.selector;
  if (policy.spec.safety !== undefined) spec.safety = policy.spec.safety;
  spec.rules = policy.spec.rules.map(ruleDoc);
  const doc = {
    apiVersion: policy.apiVersion,
    kind: policy.kind,
    metadata: policy.metadata,
    spec,
  };
  const head = [
    `# Learned by \`peregrine learn\` from ${report.target} over ${report.duration_s}s (${report.events} events).`,
    '# Review it with the report, apply it (monitor mode: would-be actions are counted),',
    `# then \`peregrine policy promote ${policy.metadata.name}\` to enforce (docs/learn.md).`,
    ...allowListComments(report),
  ];
  return `${head.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}

/** The report as Markdown: one table row per policy line, then what was left out and why. */
export function reportMarkdown(report: LearnReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const out = [
    `# Learned policy ${report.policy}`,
    '',
    `Observed ${report.target} for ${report.duration_s}s: ${report.events} events.`,
    '',
    '| rule | field | value | seen | examples | generalised |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const l of report.lines)
    out.push(
      `| ${l.rule} | ${l.field} | \`${esc(l.value)}\` | ${l.count} | ${esc(l.examples.join('; '))} | ${esc(l.how)} |`,
    );
  if (report.notes.length > 0) {
    out.push('', '## Left out, and why', '');
    for (const n of report.notes) out.push(`- ${n}`);
  }
  return `${out.join('\n')}\n`;
}

export function reportJson(report: LearnReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
