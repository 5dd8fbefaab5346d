// Drives the chat page in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) as two people would: both join, one sends and the other sees it, one
// crashes its channel and the other keeps receiving. Prints one JSON line per observation
// for the Python test, and saves screenshots. Usage: node browser.mjs <base-url> <artifacts-dir>
import { join } from "node:path";
import { WAIT, openBrowser, out } from "./chromium.mjs";

const [base, artifacts] = process.argv.slice(2);
setTimeout(() => { out("error", { why: "scenario timed out" }); process.exit(1); }, 60000).unref();
const { context, close } = await openBrowser(artifacts);

const pageErrors = [];
async function openChat(name) {
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(`${base}/`);
  await page.waitForSelector("#join-form");
  if (name === "ada") await page.screenshot({ path: join(artifacts, "chat-lobby.png") });
  await page.fill("#name", name);
  await page.fill("#room", "lobby");
  await page.click("#join");
  await page.waitForSelector('body[data-channel="joined"][data-joins="1"]', WAIT);
  out("joined", { name, node: await page.textContent("#node-name") });
  return page;
}

async function say(page, text) {
  await page.fill("#body", text);
  await page.press("#body", "Enter");
}

async function sees(page, who, text) {
  await page.locator("#messages .msg .body", { hasText: text }).first().waitFor(WAIT);
  out("seen", { who, text });
}

const online = (page) => page.$$eval("#online .who", (nodes) => nodes.map((n) => n.textContent));

try {
  const ada = await openChat("ada");
  const grace = await openChat("grace");
  await ada.locator("#online .who", { hasText: "grace" }).waitFor(WAIT);
  out("online", { who: "ada", names: await online(ada) });

  await say(ada, "hello from ada");
  await sees(grace, "grace", "hello from ada");
  await say(grace, "hi ada, grace here");
  await sees(ada, "ada", "hi ada, grace here");

  // ada crashes her channel process with the button.
  await ada.click("#crash");
  await ada.waitForSelector('body[data-channel="errored"]', WAIT);
  out("crashed", { who: "ada", banner: await ada.textContent("#banner") });
  await grace.locator(".notice-crash", { hasText: "ada crashed" }).waitFor(WAIT);
  out("notice", { who: "grace", text: await grace.textContent(".notice-crash") });

  // grace carries on: her channel never errored, and she keeps receiving.
  await say(grace, "still here after the crash");
  await sees(grace, "grace", "still here after the crash");
  out("state", {
    who: "grace",
    channel: await grace.getAttribute("body", "data-channel"),
    joins: await grace.getAttribute("body", "data-joins"),
  });

  // ada's phoenix.js rejoins by itself; what grace said meanwhile reaches her too.
  await ada.waitForSelector('body[data-channel="joined"][data-joins="2"]', WAIT);
  out("rejoined", { who: "ada", banner: await ada.textContent("#banner") });
  await sees(ada, "ada", "still here after the crash");
  await say(ada, "back with a new channel process");
  await sees(grace, "grace", "back with a new channel process");
  await grace.locator("#online .who", { hasText: "ada" }).waitFor(WAIT);
  out("online", { who: "grace", names: await online(grace) });

  // The crash notice and the rejoin are on screen for a person (and the screenshots).
  await ada.screenshot({ path: join(artifacts, "chat-ada.png") });
  await grace.screenshot({ path: join(artifacts, "chat-grace.png") });

  const observer = await context.newPage();
  observer.on("pageerror", (error) => pageErrors.push(`observer: ${error.message}`));
  await observer.goto(`${base}/observer`);
  await observer.waitForSelector("#tree .row", WAIT);
  const rooms = observer.locator("#tree .row", { hasText: "RoomChannel" });
  await rooms.nth(1).waitFor(WAIT); // ada's and grace's channels, under their connections
  const channels = await rooms.count();
  out("observer", { room_channels: channels, processes: await observer.textContent("#processes") });
  await observer.screenshot({ path: join(artifacts, "observer.png"), fullPage: true });

  out("screenshots", { files: ["chat-lobby.png", "chat-ada.png", "chat-grace.png", "observer.png"].map((f) => join(artifacts, f)) });
  out("page_errors", { errors: pageErrors });
  out("done");
} catch (error) {
  out("error", { why: String(error), page_errors: pageErrors });
  process.exitCode = 1;
} finally {
  await close();
}
