/** Plain HTTP error answers in JSON-RPC shape (no id), as the MCP transports expect. */
import type { Response } from 'express';

export function sendJsonRpcError(res: Response, status: number, message: string, code = -32000): void {
  if (res.headersSent) return;
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}
