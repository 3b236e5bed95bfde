/**
 * The walk: a LangGraph agent (agent node → ToolNode, compiled with a checkpointer and paused before
 * every tool step) uses keyward's tools while the world around it moves:
 *
 *  1. list_projects succeeds;
 *  2. get_project answers approval_required: the agent reads structuredContent.error (code,
 *     nextStep) and calls request_capability with a justification;
 *  3. the operator, seeing the request in `keyward grants list`, runs `keyward grants approve`;
 *  4. the agent sees the grant in list_capabilities and its retry of get_project succeeds;
 *  5. the provider rotates the key (the upstream accepts only the new one; `keyward secrets set`
 *     stores it) before the agent's next call, which succeeds as if nothing happened;
 *  6. project_status answers rate_limited: the agent waits retryAfterSeconds and its retry succeeds.
 *
 * The world acts only while the graph is paused (LangGraph's interruptBefore), so every run takes
 * the same steps; nothing slow runs between the agent's two project_status calls, so the second
 * one always meets the empty bucket.
 */
import { HumanMessage, ToolMessage, type AIMessage, type BaseMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { END, MemorySaver, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { ToolNode, toolsCondition } from '@langchain/langgraph/prebuilt';
import { z } from 'zod';
import { keywardTools } from './keyward-tools.js';
import { ScriptedChatModel, readToolMessage, type Goal } from './scripted-model.js';
import { AGENT, newApiKey, startWorld, type Transport } from './world.js';

export const TASK = 'Report on project p1: what it is, who owns it, and its current status.';

/** The agent's plan: the calls it means to make succeed, in order. */
export const PLAN: readonly Goal[] = [
  { tool: 'list_projects', args: {}, why: 'List the projects to find p1.' },
  { tool: 'get_project', args: { id: 'p1' }, why: 'Read project p1 in full.' },
  { tool: 'list_projects', args: {}, why: 'Check the project list again before reporting.' },
  { tool: 'project_status', args: { id: 'p1' }, why: 'Poll the status of p1.' },
  { tool: 'project_status', args: { id: 'p1' }, why: 'Poll p1 once more to confirm its status.' },
];

/** A local tool, not keyward's: the agent's way to let time pass. */
export const waitTool = tool(
  async ({ seconds }: { seconds: number }) => {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return `waited ${seconds} s`;
  },
  {
    name: 'wait',
    description: 'Wait this many seconds (e.g. retryAfterSeconds) before the next step.',
    schema: z.object({ seconds: z.number().min(0).max(60) }),
  },
);

export interface StoryOptions {
  transport: Transport;
  /** The upstream's key before and after the rotation (random when omitted). */
  initialKey?: string;
  rotatedKey?: string;
  /** One line per step, for a transcript. */
  log?: (line: string) => void;
}

export interface StoryResult {
  transport: Transport;
  /** Everything the agent saw and said, in order. */
  messages: BaseMessage[];
  /** What the operator and the provider did, in order. */
  operatorLog: string[];
  /** Every key the upstream accepted over the run (never shown to the agent). */
  keys: string[];
  /** The bearer keys the upstream received, in order (old key rejected after the rotation, then the new one). */
  upstreamSawKeys: string[];
  /** How many upstream requests had arrived when the key was rotated. */
  upstreamRequestsAtRotation: number;
  /** keyward's stderr (its logs). */
  serverStderr: string;
}

export async function runStory(options: StoryOptions): Promise<StoryResult> {
  const log = options.log ?? (() => undefined);
  const world = await startWorld(options.transport, {
    ...(options.initialKey === undefined ? {} : { initialKey: options.initialKey }),
  });
  const keyward = await keywardTools(world.endpoint).catch(async (error: unknown) => {
    await world.close();
    throw error;
  });
  try {
    const tools = [...keyward.tools, waitTool];
    const model = new ScriptedChatModel(PLAN).bindTools(tools);
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
      .addNode('tools', new ToolNode(tools))
      .addEdge(START, 'agent')
      .addConditionalEdges('agent', toolsCondition, ['tools', END])
      .addEdge('tools', 'agent')
      .compile({ checkpointer: new MemorySaver(), interruptBefore: ['tools'] });
    const config = { configurable: { thread_id: `keyward-${options.transport}` }, recursionLimit: 200 };

    let input: { messages: BaseMessage[] } | null = { messages: [new HumanMessage(TASK)] };
    let approved = 0;
    let rotatedAt = -1;
    let shown = 0;
    const show = (messages: BaseMessage[]): void => {
      for (const m of messages.slice(shown)) {
        const calls = (m as AIMessage).tool_calls ?? [];
        const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
        if (m.type === 'tool') log(`  tool ${String(m.name)} → ${text.replace(/\s+/g, ' ').slice(0, 240)}`);
        else
          log(`${m.type}: ${text}${calls.map((c) => `\n  ↳ ${c.name}(${JSON.stringify(c.args)})`).join('')}`);
      }
      shown = messages.length;
    };
    for (let pause = 0; pause < 100; pause++) {
      await graph.invoke(input, config);
      input = null;
      const snapshot = await graph.getState(config);
      const messages = snapshot.values.messages as BaseMessage[];
      show(messages);
      if (snapshot.next.length === 0) break;

      // The graph is paused before its tool step: the world moves.
      const next = ((messages.at(-1) as AIMessage).tool_calls ?? []).map((c) => c.name);
      // A request is waiting (keyward also raises an `approval.requested` alert, to its log or a
      // webhook): the operator reviews `keyward grants list` and approves what the agent asked for
      // with a reason. The request the refused call opened (no justification) is left to lapse.
      const previous = messages.at(-2);
      const paged =
        previous !== undefined &&
        ToolMessage.isInstance(previous) &&
        previous.name === 'request_capability' &&
        readToolMessage(previous).structured?.status === 'pending';
      for (const request of paged ? await world.pendingApprovals() : []) {
        if (request.agent !== AGENT || !request.justification) continue;
        log(`operator: approves ${request.id} (${request.permission}: "${request.justification}")`);
        await world.approve(request.id);
        approved += 1;
      }
      // Mid-task, after the approved call went through, the provider rotates the key.
      if (rotatedAt < 0 && approved > 0 && next.includes('list_projects')) {
        rotatedAt = world.api.seenKeys.length;
        log(
          'provider: rotates the API key; the old one now gets 401; `keyward secrets set` stores the new one',
        );
        await world.rotateKey(options.rotatedKey ?? newApiKey());
      }
    }
    const state = await graph.getState(config);
    return {
      transport: options.transport,
      messages: state.values.messages as BaseMessage[],
      operatorLog: [...world.operatorLog],
      keys: [...world.keys],
      upstreamSawKeys: [...world.api.seenKeys],
      upstreamRequestsAtRotation: rotatedAt,
      serverStderr: world.serverStderr() + keyward.stderr(),
    };
  } finally {
    await keyward.close();
    await world.close();
  }
}
