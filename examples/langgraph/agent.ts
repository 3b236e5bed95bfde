/**
 * Runs the LangGraph example and prints its transcript:
 *
 *   npm run build
 *   node --import tsx examples/langgraph/agent.ts --transport stdio   # or --transport http
 *
 * (`npm run example:langgraph -- --transport http` does both.)
 */
import { parseArgs } from 'node:util';
import { runStory } from './story.js';

const { values } = parseArgs({ options: { transport: { type: 'string', default: 'stdio' } } });
const transport = values.transport;
if (transport !== 'stdio' && transport !== 'http') {
  console.error('usage: agent.ts --transport stdio|http');
  process.exit(2);
}

const result = await runStory({ transport, log: (line) => console.log(line) });
const leaked = result.keys.filter((key) => JSON.stringify(result.messages).includes(key));
console.log(
  `\n${result.messages.length} messages; operator: ${result.operatorLog.length} actions; ` +
    `keys in the agent's messages: ${leaked.length === 0 ? 'none' : 'LEAKED'}`,
);
process.exit(leaked.length === 0 ? 0 : 1);
