// A stand-in for @elevenlabs/client's `Conversation` (browser tests only): the same entry point
// (`Conversation.startSession(options)` with `signedUrl`), the same callbacks (onConnect,
// onMessage {source: "user" | "ai", message}, onAgentResponseCorrection, onDisconnect) and
// methods (getId, sendContextualUpdate, endSession), over the ElevenLabs conversation socket of
// the fake server. No audio.
export class Conversation {
  static async startSession(options) {
    const ws = new WebSocket(options.signedUrl, ["convai"]);
    const conversation = new Conversation(ws, { ...options }); // the SDK copies its options
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", () => reject(new Error("could not connect")), { once: true });
    });
    ws.send(JSON.stringify({ type: "conversation_initiation_client_data" }));
    await conversation.ready;
    return conversation;
  }

  constructor(ws, options) {
    this.ws = ws;
    this.options = options;
    this.id = null;
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    ws.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    ws.addEventListener("close", (event) => {
      if (this.options.onDisconnect) this.options.onDisconnect({ reason: event.reason });
    });
  }

  receive(data) {
    const o = this.options;
    if (data.type === "conversation_initiation_metadata") {
      this.id = data.conversation_initiation_metadata_event.conversation_id;
      if (o.onConnect) o.onConnect({ conversationId: this.id });
      this.resolveReady();
    } else if (data.type === "user_transcript" && o.onMessage) {
      o.onMessage({ source: "user", message: data.user_transcription_event.user_transcript });
    } else if (data.type === "agent_response" && o.onMessage) {
      o.onMessage({ source: "ai", message: data.agent_response_event.agent_response });
    } else if (data.type === "agent_response_correction" && o.onAgentResponseCorrection) {
      o.onAgentResponseCorrection(data.agent_response_correction_event);
    } else if (data.type === "ping") {
      this.ws.send(JSON.stringify({ type: "pong", event_id: data.ping_event.event_id }));
    }
  }

  getId() {
    return this.id;
  }

  sendContextualUpdate(text) {
    this.ws.send(JSON.stringify({ type: "contextual_update", text }));
  }

  async endSession() {
    this.ws.close(1000, "endSession");
  }
}
