/**
 * A scripted tool-calling chat model: no LLM, no network. It plays a fixed plan of goals (tool
 * calls that must succeed, in order) and reacts to what keyward answers the way an agent prompted
 * with keyward's error catalog would: it reads `structuredContent.error` (`code`, `nextStep`,
 * `retryAfterSeconds`) and never anything else it could not see (no keys, no config, no files).
 *
 * - `approval_required` / `permission_denied` / `grant_expired` → `request_capability` with a
 *   justification, then `list_capabilities` (with `wait` between polls) until the permission is
 *   `granted`, then the same call again;
 * - `rate_limited` (or any retryable error with `retryAfterSeconds`) → `wait` that many seconds,
 *   then the same call again;
 * - anything else → stop and report the code and its `nextStep`.
 */
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { BindToolsInput } from '@langchain/core/language_models/chat_models';
import { STRUCTURED_PREFIX } from './keyward-tools.js';

export interface Goal {
  tool: string;
  args: Record<string, unknown>;
  /** What the agent says before the call (shows up in the transcript). */
  why: string;
}

/** keyward's structured error (docs/errors.md). */
export interface StructuredError {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterSeconds?: number;
  permission?: string;
  approvalId?: string;
  nextStep: string;
  requestId?: string;
}

/** What the agent reads in one ToolMessage: keyward's structuredContent, as the adapter hands it over. */
export interface ToolReading {
  ok: boolean;
  structured: Record<string, unknown> | undefined;
  error: StructuredError | undefined;
  text: string;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  const blocks = (Array.isArray(content) ? content : [content]) as { text?: unknown }[];
  return blocks.map((block) => (typeof block?.text === 'string' ? block.text : '')).join('\n');
}

/**
 * Reads a ToolMessage: on success the adapter puts structuredContent on the text block (and in the
 * artifact); on error StructuredErrorClient put it on a `structuredContent: {…}` line.
 */
export function readToolMessage(message: ToolMessage): ToolReading {
  const text = textOf(message.content);
  if (message.status === 'error') {
    const line = text.split('\n').find((l) => l.startsWith(STRUCTURED_PREFIX));
    const structured = line
      ? (JSON.parse(line.slice(STRUCTURED_PREFIX.length)) as Record<string, unknown>)
      : undefined;
    return { ok: false, structured, error: structured?.error as StructuredError | undefined, text };
  }
  let structured: Record<string, unknown> | undefined;
  // The adapter hands over one text block (an object, or an array of blocks) with structuredContent on it.
  const content = message.content as unknown;
  const blocks = (Array.isArray(content) ? content : [content]) as Record<string, unknown>[];
  for (const block of blocks)
    if (typeof block === 'object' && block?.structuredContent)
      structured = block.structuredContent as Record<string, unknown>;
  if (structured === undefined && Array.isArray(message.artifact)) {
    const artifact = (message.artifact as { type?: string; data?: unknown }[]).find(
      (a) => a.type === 'mcp_structured_content',
    );
    structured = artifact?.data as Record<string, unknown> | undefined;
  }
  return { ok: true, structured, error: undefined, text };
}

let callIds = 0;

function act(tool: string, args: Record<string, unknown>, say: string): AIMessage {
  return new AIMessage({
    content: say,
    tool_calls: [{ id: `call_${++callIds}`, name: tool, args, type: 'tool_call' }],
  });
}

/** The agent's memory of where it is in the plan (derived from the ToolMessages it has read). */
interface PlanState {
  goal: number;
  /** What to do after the next `wait`: retry the goal, or poll list_capabilities. */
  afterWait: 'retry' | 'poll';
  polls: number;
  findings: string[];
}

export class ScriptedChatModel extends BaseChatModel {
  private boundTools: string[] = [];
  private state: PlanState = { goal: 0, afterWait: 'retry', polls: 0, findings: [] };

  constructor(
    private readonly goals: readonly Goal[],
    private readonly options: { maxPolls?: number } = {},
  ) {
    super({});
  }

  _llmType(): string {
    return 'scripted';
  }

  /** Tools are "bound" by name only: the plan must name tools that exist. */
  override bindTools(tools: BindToolsInput[]): this {
    this.boundTools = tools.map((t) => (t as { name: string }).name);
    return this;
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const message = this.decide(messages);
    for (const call of message.tool_calls ?? [])
      if (this.boundTools.length > 0 && !this.boundTools.includes(call.name))
        throw new Error(`the plan calls ${call.name}, which is not among the bound tools`);
    return { generations: [{ message, text: typeof message.content === 'string' ? message.content : '' }] };
  }

  private decide(messages: BaseMessage[]): AIMessage {
    const last = messages.at(-1);
    const s = this.state;
    const goal = this.goals[s.goal];
    if (!ToolMessage.isInstance(last)) return this.pursue();
    if (goal === undefined) return this.finish('done');
    const reading = readToolMessage(last);
    switch (last.name) {
      case goal.tool:
        if (reading.ok) {
          s.findings.push(
            `${goal.tool}(${JSON.stringify(goal.args)}) → ${JSON.stringify(reading.structured?.body)}`,
          );
          s.goal += 1;
          return this.pursue();
        }
        return this.onError(reading.error, reading.text);
      case 'request_capability': {
        const status = reading.structured?.status;
        if (status === 'granted') return this.pursue('request_capability granted it;');
        if (status === 'pending') {
          s.polls = 0;
          return act(
            'list_capabilities',
            {},
            `request_capability is pending (approvalId ${String(reading.structured?.approvalId)}); an operator must approve it. I check my capabilities.`,
          );
        }
        return this.finish(
          `request_capability was ${String(status)}: ${String(reading.structured?.message)}`,
        );
      }
      case 'list_capabilities': {
        const caps = (reading.structured?.capabilities ?? []) as { tool: string; status: string }[];
        const mine = caps.find((c) => c.tool === goal.tool);
        if (mine?.status === 'granted' || mine?.status === 'allowed')
          return this.pursue(`list_capabilities: ${goal.tool} is ${mine.status}.`);
        if (s.polls >= (this.options.maxPolls ?? 20))
          return this.finish(`no approval for ${goal.tool} arrived; giving up`);
        s.polls += 1;
        s.afterWait = 'poll';
        return act('wait', { seconds: 1 }, `${goal.tool} is still ${mine?.status ?? 'unknown'}; I wait 1 s.`);
      }
      case 'wait':
        if (s.afterWait === 'poll') return act('list_capabilities', {}, 'Checking my capabilities again.');
        return this.pursue('Waited; retrying.');
      default:
        return this.finish(`unexpected tool result from ${String(last.name)}`);
    }
  }

  /** Calls the current goal, or finishes when every goal is met. */
  private pursue(prefix = ''): AIMessage {
    const goal = this.goals[this.state.goal];
    if (goal === undefined) return this.finish('done');
    return act(goal.tool, goal.args, `${prefix ? `${prefix} ` : ''}${goal.why}`);
  }

  private onError(error: StructuredError | undefined, text: string): AIMessage {
    const goal = this.goals[this.state.goal] as Goal;
    if (error === undefined) return this.finish(`${goal.tool} failed without a structured error: ${text}`);
    const seen = `${goal.tool} answered ${error.code} (nextStep: "${error.nextStep}").`;
    if (['approval_required', 'permission_denied', 'grant_expired'].includes(error.code)) {
      if (error.code === 'permission_denied' && !error.nextStep.includes('request_capability'))
        return this.finish(seen);
      return act(
        'request_capability',
        {
          permission: error.permission ?? '',
          justification:
            `I need ${goal.tool} ${JSON.stringify(goal.args)} to ${goal.why.replace(/\.$/, '').toLowerCase()}` +
            (error.approvalId ? ` (the call opened request ${error.approvalId}).` : '.'),
          ttlSeconds: 600,
        },
        `${seen} I ask for ${String(error.permission)} with request_capability.`,
      );
    }
    if (error.retryable && error.retryAfterSeconds !== undefined) {
      this.state.afterWait = 'retry';
      return act(
        'wait',
        { seconds: error.retryAfterSeconds },
        `${seen} I wait retryAfterSeconds = ${error.retryAfterSeconds} s, then retry.`,
      );
    }
    return this.finish(seen);
  }

  private finish(how: string): AIMessage {
    const findings = this.state.findings.map((f) => `- ${f}`).join('\n');
    return new AIMessage({ content: `Finished (${how}).\n${findings}` });
  }
}
