// The chat page on two nodes (`trouper chat --nodes 2`) in headless Chromium: pages open
// until two land on different nodes, both people talk at once (each node numbers its own
// messages, so the two messages have the same id), a third page joins and gets the room's
// history, and the observer names the other node. One JSON line per observation.
// Usage: node cluster_browser.mjs <base-url> <artifacts-dir>
import { join } from "node:path";
import { WAIT, openBrowser, out } from "./chromium.mjs";

const [base, artifacts] = process.argv.slice(2);
setTimeout(() => { out("error", { why: "scenario timed out" }); process.exit(1); }, 90000).unref();
const { context, close } = await openBrowser(artifacts);
const pageErrors = [];

async function openChat(name) {
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(`${base}/?name=${name}&room=lobby`);
  await page.waitForSelector('body[data-channel="joined"]', WAIT);
  return { page, node: await page.textContent("#node-name") };
}

const messages = (page) => page.$$eval("#messages .msg", (items) => items.map((item) => ({
  body: item.querySelector(".body").textContent,
  via: item.querySelector(".via")?.textContent ?? null,
})));

try {
  const people = [];
  for (let attempt = 0; attempt < 20 && people.length < 2; attempt++) {
    const opened = await openChat(people.length === 0 ? "ada" : "grace");
    if (people.some((person) => person.node === opened.node)) await opened.page.close();
    else people.push(opened);
  }
  const [ada, grace] = people;
  out("nodes", { ada: ada?.node, grace: grace?.node });
  await ada.page.locator("#online .who", { hasText: "grace" }).waitFor(WAIT);

  for (const { page, node } of people) {
    await page.fill("#body", `hello from ${node}`);
    await page.press("#body", "Enter");
  }
  for (const { page, node } of people) {
    for (const other of people) {
      await page.locator("#messages .msg .body", { hasText: `hello from ${other.node}` }).waitFor(WAIT);
    }
    out("messages", { on: node, messages: await messages(page) });
  }

  const late = await openChat("cy");
  await late.page.locator("#messages .msg").nth(1).waitFor(WAIT);
  out("history", { on: late.node, messages: await messages(late.page) });

  await grace.page.screenshot({ path: join(artifacts, "cluster-chat.png") });
  const observer = await context.newPage();
  observer.on("pageerror", (error) => pageErrors.push(`observer: ${error.message}`));
  await observer.goto(`${base}/observer`);
  await observer.waitForSelector("#cluster:not([hidden])", WAIT);
  out("observer", {
    app: await observer.textContent("#app-name"),
    others: await observer.textContent("#other-nodes"),
  });
  await observer.screenshot({ path: join(artifacts, "cluster-observer.png") });
  out("page_errors", { errors: pageErrors });
  out("done");
} catch (error) {
  out("error", { why: String(error), page_errors: pageErrors });
  process.exitCode = 1;
} finally {
  await close();
}
