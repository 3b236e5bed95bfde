/**
 * examples/langgraph end to end: a LangGraph.js agent with a scripted tool-calling model uses the
 * built keyward (dist/) over stdio and over Streamable HTTP, through @langchain/mcp-adapters, against
 * the sample API on 127.0.0.1. Each step of the story is asserted on what the agent saw.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AIMessage, BaseMessage, ToolMessage } from '@langchain/core/messages';
import { beforeAll, describe, expect, it } from 'vitest';
import { readToolMessage, type ToolReading } from '../../examples/langgraph/scripted-model.js';
import { runStory, type StoryResult } from '../../examples/langgraph/story.js';
import { findCanary, makeCanary } from '../helpers/canary.js';
import { repoRoot } from '../helpers/cli.js';

interface Step {
  tool: string;
  args: Record<string, unknown>;
  /** What the agent said when it made the call. */
  said: string;
  message: ToolMessage;
  reading: ToolReading;
}

/** Pairs each tool call of the agent with the ToolMessage it got back. */
function stepsOf(messages: BaseMessage[]): Step[] {
  const steps: Step[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.type !== 'ai') continue;
    for (const call of (m as AIMessage).tool_calls ?? []) {
      const answer = messages
        .slice(i + 1)
        .find((t) => t.type === 'tool' && (t as ToolMessage).tool_call_id === call.id) as ToolMessage;
      expect(answer, `no answer to ${call.name}`).toBeDefined();
      steps.push({
        tool: call.name,
        args: call.args,
        said: String(m.content),
        message: answer,
        reading: readToolMessage(answer),
      });
    }
  }
  return steps;
}

const EXPECTED_CALLS = [
  'list_projects', // 1. succeeds
  'get_project', // 2. approval_required
  'request_capability', //    the agent asks
  'list_capabilities', // 3. the operator's approval arrived: granted
  'get_project', // 4. the retry succeeds
  'list_projects', // 5. after the rotation: succeeds, nothing to see
  'project_status', // 6. succeeds, then
  'project_status', //    rate_limited
  'wait', //    retryAfterSeconds
  'project_status', //    the retry succeeds
];

describe.each(['stdio', 'http'] as const)('the LangGraph example over %s', (transport) => {
  const initialKey = makeCanary('kwlanggraph');
  const rotatedKey = makeCanary('kwlanggraph');
  let result: StoryResult;
  let steps: Step[];

  beforeAll(async () => {
    result = await runStory({ transport, initialKey, rotatedKey });
    steps = stepsOf(result.messages);
  }, 120_000);

  it('walks the story in the expected calls and finishes', () => {
    expect(steps.map((s) => s.tool)).toEqual(EXPECTED_CALLS);
    const last = result.messages.at(-1) as AIMessage;
    expect(last.type).toBe('ai');
    expect(last.tool_calls ?? []).toEqual([]);
    expect(String(last.content)).toMatch(/^Finished \(done\)/);
  });

  it('1. a call succeeds: structured 200 with the upstream body', () => {
    const first = steps[0] as Step;
    expect(first.message.status).not.toBe('error');
    expect(first.reading.structured).toMatchObject({
      status: 200,
      body: { projects: [{ id: 'p1' }, { id: 'p2' }] },
    });
  });

  it('2. a denied call: the agent reads structuredContent.error (code, nextStep) and calls request_capability', () => {
    const denied = steps[1] as Step;
    expect(denied.message.status).toBe('error');
    expect(denied.reading.error).toMatchObject({
      code: 'approval_required',
      retryable: true,
      tool: 'get_project',
      permission: 'projects:detail',
      nextStep: expect.stringContaining('keyward grants approve'),
    });
    const callApprovalId = String(denied.reading.error?.approvalId);
    expect(callApprovalId).toMatch(/^a_/);
    const ask = steps[2] as Step;
    // The agent's next move is driven by what it read: code and nextStep quoted, the permission from the error.
    expect(ask.said).toContain('approval_required');
    expect(ask.said).toContain(String(denied.reading.error?.nextStep));
    expect(ask.args).toMatchObject({ permission: 'projects:detail', ttlSeconds: 600 });
    expect(String(ask.args.justification)).toContain(callApprovalId);
    expect(ask.reading.structured).toMatchObject({
      permission: 'projects:detail',
      status: 'pending',
      approvalId: expect.stringMatching(/^a_/),
      nextStep: expect.stringContaining('keyward grants approve'),
    });
  });

  it('3. the approval arrives: the operator ran `keyward grants approve` and the agent sees the grant', () => {
    const approvalId = String((steps[2] as Step).reading.structured?.approvalId);
    expect(result.operatorLog[0]).toBe(`keyward grants approve ${approvalId}`);
    const caps = (steps[3] as Step).reading.structured?.capabilities as {
      tool: string;
      status: string;
      grants: unknown[];
    }[];
    const detail = caps.find((c) => c.tool === 'get_project');
    expect(detail?.status).toBe('granted');
    expect(detail?.grants).toHaveLength(1);
  });

  it('4. the retry succeeds', () => {
    const retry = steps[4] as Step;
    expect(retry.args).toEqual({ id: 'p1' });
    expect(retry.message.status).not.toBe('error');
    expect(retry.reading.structured).toMatchObject({
      status: 200,
      body: { id: 'p1', name: 'apollo', owner: 'ada' },
    });
  });

  it('5. a key rotated mid-task is invisible to the agent', () => {
    expect(result.operatorLog[1]).toContain('keyward secrets set projects-api');
    const at = result.upstreamRequestsAtRotation;
    expect(at).toBeGreaterThan(0);
    // Before: only the first key. After: either keyward noticed the store change first and sends
    // the new key at once, or (when the next call wins that race, as on a busy machine) its cached
    // old key is refused once (401) and re-read; from then on only the new key reaches the upstream.
    expect(new Set(result.upstreamSawKeys.slice(0, at))).toEqual(new Set([initialKey]));
    const after_ = result.upstreamSawKeys.slice(at);
    const refusedOnce = after_[0] === initialKey ? after_.slice(1) : after_;
    expect(refusedOnce).toEqual([rotatedKey, rotatedKey, rotatedKey]);
    const after = steps[5] as Step;
    expect(after.message.status).not.toBe('error');
    expect(after.reading.structured).toEqual((steps[0] as Step).reading.structured);
  });

  it('6. rate_limited is waited out using retryAfterSeconds', () => {
    expect((steps[6] as Step).reading.structured).toMatchObject({ status: 200 });
    const limited = steps[7] as Step;
    expect(limited.message.status).toBe('error');
    expect(limited.reading.error).toMatchObject({
      code: 'rate_limited',
      retryable: true,
      nextStep: 'wait retryAfterSeconds, then retry',
    });
    const retryAfter = Number(limited.reading.error?.retryAfterSeconds);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    const wait = steps[8] as Step;
    expect(wait.args).toEqual({ seconds: retryAfter });
    expect(wait.said).toContain(`retryAfterSeconds = ${retryAfter}`);
    const retry = steps[9] as Step;
    expect(retry.message.status).not.toBe('error');
    expect(retry.reading.structured).toMatchObject({ status: 200, body: { id: 'p1' } });
  });

  it('no key, in any encoding, anywhere in the agent’s messages (or keyward’s logs)', () => {
    const everything = JSON.stringify(
      result.messages.map((m) => ({
        type: m.type,
        content: m.content,
        artifact: (m as ToolMessage).artifact,
        toolCalls: (m as AIMessage).tool_calls,
        additional: m.additional_kwargs,
        serialized: m.toJSON(),
      })),
    );
    expect(everything).toContain('apollo'); // the scan sees the real transcript
    for (const key of [initialKey, rotatedKey]) {
      expect(findCanary(everything, key)).toEqual([]);
      expect(findCanary(result.serverStderr, key)).toEqual([]);
    }
  });
});

describe('the LangGraph packages stay out of keyward', () => {
  it('no file of src/ or dist/src/ imports @langchain', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const file = path.join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (/\.(ts|js)$/.test(name) && readFileSync(file, 'utf8').includes('@langchain/'))
          offenders.push(file);
      }
    };
    walk(path.join(repoRoot, 'src'));
    walk(path.join(repoRoot, 'dist/src'));
    expect(offenders).toEqual([]);
  });
});
