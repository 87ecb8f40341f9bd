// A candidate "page" without a browser: candidate.js between a raw ElevenLabs conversation
// socket and the gateway, for tests/integration/test_candidate_js_gateway.py. Needs a global
// WebSocket (Node 20: --experimental-websocket). Prints one JSON object per line; exits 0 once
// the ElevenLabs call closed and every frame was acked, 2 on a timeout.
//
//   node --experimental-websocket tests/node/bridge.mjs '{"gatewayUrl", "sessionId", "token",
//        "elevenlabsUrl", "timeoutMs"?}'
import { connectCandidate } from "../../handlers/static/client/candidate.js";

const config = JSON.parse(process.argv[2]);
const out = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const items = new Map();
const storage = {
  getItem: (k) => (items.has(k) ? items.get(k) : null),
  setItem: (k, v) => items.set(k, String(v)),
  removeItem: (k) => items.delete(k),
};

const gateway = connectCandidate({
  gatewayUrl: config.gatewayUrl,
  sessionId: config.sessionId,
  token: config.token,
  storage,
  onStatus: (status, detail) => out({ event: "status", status, detail }),
  onCommand: (command, { text }) => out({ event: "command", id: command.command_id, type: command.command_type, text }),
  onError: (problem) => out({ event: "error", code: problem.code, message: problem.message }),
});

const el = new WebSocket(config.elevenlabsUrl);
el.addEventListener("open", () => {
  el.send(JSON.stringify({ type: "conversation_initiation_client_data" }));
  out({ event: "elevenlabs_open" });
});
gateway.attachElevenLabsSocket(el);

const timer = setTimeout(() => {
  out({ event: "timeout", unacked: gateway.unacked.length, status: gateway.status });
  process.exit(2);
}, config.timeoutMs ?? 30000);

el.addEventListener("close", (event) => {
  out({ event: "elevenlabs_closed", code: event.code, conversationId: gateway.conversationId });
  const done = setInterval(() => {
    if (gateway.unacked.length === 0) {
      clearInterval(done);
      clearTimeout(timer);
      gateway.close();
      out({ event: "done" });
      setTimeout(() => process.exit(0), 50);
    }
  }, 20);
});
