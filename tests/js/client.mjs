// Drives the official phoenix client against a trouper server; prints one JSON line per
// observation so the Python test can assert on them. Usage: node client.mjs <url> <scenario>
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";

const [url, scenario, ...args] = process.argv.slice(2);
const out = (event, data = {}) => console.log(JSON.stringify({ event, ...data }));
const fail = (why) => { out("error", { why: String(why) }); process.exit(1); };
setTimeout(() => fail("scenario timed out"), 15000).unref();

const socket = new Socket(url, {
  transport: WebSocket,
  params: { token: args[0] ?? "good" },
  // phoenix.js 1.7+ sends this as a WebSocket subprotocol, not a query parameter.
  authToken: scenario === "auth_token" ? args[1] : undefined,
  heartbeatIntervalMs: 200,
  reconnectAfterMs: () => 50,
  rejoinAfterMs: () => 50,
});
socket.onOpen(() => out("open"));
socket.onError(() => out("socket_error"));
socket.onClose(() => out("close"));

function join(topic, params = {}) {
  const channel = socket.channel(topic, params);
  return new Promise((resolve) => {
    channel.join()
      .receive("ok", (resp) => { out("joined", { topic, resp }); resolve(channel); })
      .receive("error", (resp) => { out("join_error", { topic, resp }); resolve(null); })
      .receive("timeout", () => { out("join_timeout", { topic }); resolve(null); });
  });
}

function push(channel, event, payload, timeout = 5000) {
  return new Promise((resolve) => {
    channel.push(event, payload, timeout)
      .receive("ok", (resp) => resolve({ status: "ok", resp }))
      .receive("error", (resp) => resolve({ status: "error", resp }))
      .receive("timeout", () => resolve({ status: "timeout" }));
  });
}

const scenarios = {
  async basic() {
    const lobby = await join("rooms:lobby", { name: "ada" });
    lobby.on("shout", (msg) => out("shout", { msg }));
    out("reply", await push(lobby, "echo", { text: "hi" }));
    await push(lobby, "shout", { text: "to everyone" });
    await new Promise((r) => setTimeout(r, 500)); // heartbeats flow meanwhile
    out("heartbeat_ok", { connected: socket.isConnected() });
    await new Promise((resolve) => lobby.leave().receive("ok", () => { out("left"); resolve(); }));
    await join("rooms:secret");
    socket.disconnect(() => { out("done"); process.exit(0); });
  },
  async crash() {
    const lobby = await join("rooms:lobby");
    let joins = 0;
    lobby.onError(() => out("channel_error"));
    lobby.on("after_rejoin", () => {});
    out("reply", await push(lobby, "crash", {}, 500)); // no reply comes: the channel crashed
    // phoenix.js rejoins by itself after phx_error; wait until the rejoin answered.
    const started = Date.now();
    while (lobby.state !== "joined" || Date.now() - started < 200) {
      await new Promise((r) => setTimeout(r, 20));
    }
    out("reply_after_rejoin", await push(lobby, "echo", { text: "back" }));
    socket.disconnect(() => { out("done"); process.exit(0); });
  },
  async listen() {
    const lobby = await join("rooms:lobby");
    lobby.on("shout", (msg) => { out("shout", { msg }); });
    out("ready");
  },
  async presence() {
    // args: [token, name]; prints the sorted list of names online after every sync.
    const name = args[1];
    const lobby = socket.channel("rooms:lobby", { name });
    const presence = new Presence(lobby);
    presence.onSync(() => out("online", { names: presence.list((key) => key).sort() }));
    await new Promise((resolve) => lobby.join().receive("ok", resolve));
    process.stdin.on("data", () => {
      socket.disconnect(() => { out("done"); process.exit(0); });
    });
  },
  async auth_token() {
    await join("rooms:lobby");
    socket.disconnect(() => { out("done"); process.exit(0); });
  },
  async binary() {
    const lobby = await join("rooms:lobby");
    const bytes = new Uint8Array([1, 2, 3, 250]).buffer;
    const reply = await push(lobby, "echo_binary", bytes);
    out("binary_reply", { status: reply.status, bytes: Array.from(new Uint8Array(reply.resp)) });
    socket.disconnect(() => { out("done"); process.exit(0); });
  },
};

if (!scenarios[scenario]) fail(`unknown scenario ${scenario}`);
socket.connect();
scenarios[scenario]().catch(fail);
