// The observer page: joins "observer:tree" and redraws the supervision tree on each snapshot.
// Rows for pids that were not in the previous snapshot are highlighted (a restart, a new
// connection, a rejoined channel).
(() => {
  "use strict";
  const { Socket } = window.Phoenix;
  const $ = (id) => document.getElementById(id);
  let seen = new Set();
  let updates = 0;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function badge(kind, text) { return element("span", `badge badge-${kind}`, text); }

  function labelOf(node, parentLabel) {
    if (node.id !== null && node.id !== undefined) return String(node.id);
    if (node.name) return node.name;
    if (parentLabel === "connections") return "connection";
    return node.behaviour || "process";
  }

  function row(node, label, isSupervisor) {
    const line = element("div", "row");
    line.append(element("span", "label", label));
    if (isSupervisor) line.append(badge("sup", "sup"));
    if (node.behaviour && node.behaviour !== label) line.append(element("span", "behaviour", node.behaviour));
    line.append(element("span", "pid", node.pid));
    if (node.mode) line.append(badge(node.mode, node.mode));
    if (node.mailbox_len) line.append(badge("mail", `mail ${node.mailbox_len}`));
    if (node.restarts) line.append(badge("restarts", `restarts ${node.restarts}`));
    if (node.status === "dead") line.append(badge("restarts", "dead"));
    return line;
  }

  function draw(node, parentLabel, fresh) {
    const item = element("li");
    const isSupervisor = Array.isArray(node.children);
    const label = labelOf(node, parentLabel);
    const line = row(node, label, isSupervisor);
    item.append(line);
    fresh.add(node.pid);
    if (!seen.has(node.pid) && seen.size) item.classList.add("fresh");
    const kids = isSupervisor ? node.children : node.linked || [];
    const total = isSupervisor ? node.child_count : node.linked_count || 0;
    if (isSupervisor) line.append(badge("count", `${total} ${total === 1 ? "child" : "children"}`));
    else if (total) line.append(badge("count", `${total} linked`));
    if (kids.length) {
      const list = element("ul");
      for (const child of kids) list.append(draw(child, label, fresh));
      if (total > kids.length) list.append(element("li", "more", `… and ${total - kids.length} more`));
      item.append(list);
    }
    return item;
  }

  function render(data) {
    const stats = data.statistics;
    for (const key of ["processes", "reactive", "task", "runnable", "timers", "registered_names"]) {
      $(key).textContent = stats[key].toLocaleString();
    }
    const total = Math.max(stats.processes, 1);
    $("bar-reactive").style.width = `${(100 * stats.reactive) / total}%`;
    $("bar-task").style.width = `${(100 * stats.task) / total}%`;
    $("app-name").textContent = `${data.application} on ${data.node}`;
    // In a cluster: the other nodes up now (this page shows only its own node's tree).
    $("cluster").hidden = data.nodes.length === 0;
    $("other-nodes").textContent = data.nodes.join(", ");
    $("max-children").textContent = data.max_children;
    const fresh = new Set();
    $("tree").replaceChildren(draw({ ...data.tree, id: data.application }, null, fresh));
    seen = fresh;
    updates += 1;
    document.body.dataset.updates = updates;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  const socket = new Socket("/socket", { params: { user: "observer" } });
  socket.onOpen(() => { $("status").className = "pill pill-ok"; $("status").textContent = "live"; });
  socket.onError(() => {
    $("status").className = "pill pill-bad";
    $("status").textContent = "connection lost, reconnecting…";
  });
  const channel = socket.channel("observer:tree", {});
  channel.on("tree", render);
  channel.join();
  socket.connect();
})();
