// The candidate page: start the voice call, bridge it to the gateway, show the live transcript.
//
// Served by the gateway at /candidate/{session_id}?token=… with a strict CSP; every text shown
// comes from the conversation and goes in through textContent only. In `client` mode the page
// streams the transcript to the gateway itself (/client/candidate.js); in `monitor` mode it only
// reports the conversation id and the gateway reads the transcript from ElevenLabs.
import { connectCandidate } from "/client/candidate.js";

const $ = (id) => document.getElementById(id);
const body = document.body;
const sessionId = body.dataset.sessionId;
const source = body.dataset.transcriptSource;
const sdkUrl = body.dataset.sdkUrl || "";
const token = new URLSearchParams(location.search).get("token") || "";
const auth = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };

let call = null; // {end(): void}
const lines = []; // {role, item}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function setCall(state, label) {
  body.dataset.call = state;
  $("call-state").dataset.state = state;
  $("call-state").textContent = `call: ${label}`;
  $("start-call").disabled = state === "starting" || state === "in_call";
  $("end-call").disabled = state !== "in_call";
}

function setGateway(state, detail) {
  body.dataset.gateway = state;
  $("gateway-state").dataset.state = state;
  const why = detail && detail.reason ? ` (${detail.reason})` : "";
  $("gateway-state").textContent = `gateway: ${state}${why}`;
}

function addLine(role, text) {
  const item = document.createElement("li");
  item.className = "line";
  item.dataset.role = role;
  const who = document.createElement("span");
  who.className = "speaker";
  who.textContent = role === "user" ? "You" : "Interviewer";
  const said = document.createElement("span");
  said.className = "text";
  said.textContent = text;
  item.append(who, said);
  $("transcript").append(item);
  $("transcript").scrollTop = $("transcript").scrollHeight;
  lines.push({ role, item });
}

function correctLast(role, text) {
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    if (lines[i].role === role) {
      lines[i].item.querySelector(".text").textContent = text;
      lines[i].item.dataset.corrected = "true";
      return;
    }
  }
}

function addCommand(command, { text }) {
  const item = document.createElement("li");
  item.dataset.commandType = command.command_type;
  item.textContent = text === null ? "The interviewer ended the call." : text;
  $("commands").append(item);
}

const gateway =
  source === "client"
    ? connectCandidate({
        gatewayUrl: location.origin,
        sessionId,
        token,
        onStatus: setGateway,
        onCommand: addCommand,
        onError: (problem) => console.warn("candidate client:", problem.code, problem.message),
      })
    : null;
if (!gateway) setGateway("monitor", { reason: "the gateway reads the call itself" });

async function reportConversation(conversationId) {
  if (source !== "monitor" || !conversationId) return;
  const res = await fetch("/api/voice/conversation", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ session_id: sessionId, conversation_id: conversationId }),
  });
  if (!res.ok) notice(`The gateway could not monitor this call (HTTP ${res.status}).`);
}

// The raw ElevenLabs conversation socket: what the offline provider's local server speaks.
function showEvent(raw) {
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    return;
  }
  if (!data || typeof data !== "object") return;
  if (data.type === "user_transcript" && data.user_transcription_event) {
    addLine("user", String(data.user_transcription_event.user_transcript));
  } else if (data.type === "agent_response" && data.agent_response_event) {
    addLine("assistant", String(data.agent_response_event.agent_response));
  } else if (data.type === "agent_response_correction" && data.agent_response_correction_event) {
    correctLast("assistant", String(data.agent_response_correction_event.corrected_agent_response));
  } else if (data.type === "conversation_initiation_metadata") {
    const e = data.conversation_initiation_metadata_event || {};
    body.dataset.conversationId = String(e.conversation_id || "");
    reportConversation(e.conversation_id);
  }
}

function startSocketCall(url) {
  const ws = new WebSocket(url);
  if (gateway) gateway.attachElevenLabsSocket(ws);
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "conversation_initiation_client_data" }));
    setCall("in_call", "in progress");
  });
  ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") showEvent(event.data);
  });
  ws.addEventListener("close", (event) => {
    setCall("ended", event.reason ? `ended (${event.reason})` : "ended");
  });
  return { end: () => ws.close(1000, "candidate ended the call") };
}

async function startSdkCall(signedUrl) {
  if (!sdkUrl) {
    notice(
      "This interview uses a real ElevenLabs agent, and the browser SDK is not configured.\n" +
        "Ask the operator to set ELEVENLABS_SDK_URL to a URL serving @elevenlabs/client as an " +
        "ES module (a copy on this server, e.g. /assets/elevenlabs-client.js, or their own host).",
    );
    setCall("failed", "SDK not configured");
    return null;
  }
  const { Conversation } = await import(sdkUrl);
  let options = {
    signedUrl,
    onMessage: ({ source: who, message }) => addLine(who === "user" ? "user" : "assistant", message),
    onAgentResponseCorrection: (e) => correctLast("assistant", e.corrected_agent_response),
    onDisconnect: () => setCall("ended", "ended"),
  };
  if (gateway) options = gateway.attachElevenLabs(options);
  const conversation = await Conversation.startSession(options);
  if (gateway) gateway.attachElevenLabs(conversation);
  setCall("in_call", "in progress");
  reportConversation(conversation.getId && conversation.getId());
  return { end: () => conversation.endSession() };
}

$("start-call").addEventListener("click", async () => {
  notice("");
  setCall("starting", "starting…");
  try {
    const res = await fetch("/api/voice/elevenlabs-session", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ session_id: sessionId }),
    });
    const agent = await res.json();
    if (!res.ok) {
      const err = (agent && agent.error) || {};
      throw new Error(`${res.status} ${err.code || ""}: ${err.message || "no voice agent"}`);
    }
    if (!agent.signed_url) {
      notice(
        "No conversation server is configured for offline agents: set " +
          "ELEVENLABS_CONVERSATION_URL (interview-gateway demo starts one and sets it).",
      );
      setCall("failed", "no conversation server");
      return;
    }
    call =
      agent.provider === "offline" ? startSocketCall(agent.signed_url) : await startSdkCall(agent.signed_url);
  } catch (err) {
    notice(`Could not start the call: ${err && err.message}`);
    setCall("failed", "could not start");
  }
});

$("end-call").addEventListener("click", () => {
  if (call) call.end();
});

setCall("idle", "not started");
