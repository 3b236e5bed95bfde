// A relay from keyward's alert webhook to a Slack-style incoming webhook (docs/approvals.md).
// Run: SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… node --import tsx examples/notifier/slack-relay.ts
// and set notifier.webhook.url to http://127.0.0.1:8790/ in tools.config.json.
import { createServer, type ServerResponse } from 'node:http';
import { toSlack, type KeywardAlert } from './slack-format.js';

const target = process.env.SLACK_WEBHOOK_URL ?? '';
if (target === '') throw new Error('set SLACK_WEBHOOK_URL');
const port = Number(process.env.PORT ?? 8790);

createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => {
    body += chunk.toString();
    if (body.length > 64 * 1024) req.destroy();
  });
  req.on('end', () => void relay(body, res));
}).listen(port, '127.0.0.1');

async function relay(body: string, res: ServerResponse): Promise<void> {
  try {
    const alert = JSON.parse(body) as KeywardAlert;
    const sent = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(toSlack(alert)),
    });
    res.writeHead(sent.ok ? 204 : 502).end();
  } catch {
    res.writeHead(400).end();
  }
}
