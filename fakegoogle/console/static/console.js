// gcptoken emulator console: live updates for the requests timeline. The
// page works without this script (its Reload link shows new requests);
// with it, new requests appear as the fake answers them. It long-polls
// rows?after=ID, which answers as soon as a request newer than ID arrives
// (or after a while with 204), with the table rows that match the page's
// filter.
"use strict";
(function () {
  const table = document.getElementById("timeline");
  if (!table || !window.fetch) {
    return;
  }
  const body = table.tBodies[0];
  const live = document.getElementById("live");
  const shown = document.getElementById("shown");
  const maxRows = 500;
  let after = table.dataset.after;
  let added = 0;
  const query = new URLSearchParams(window.location.search);
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function poll() {
    for (;;) {
      query.set("after", after);
      let resp;
      try {
        resp = await fetch(table.dataset.rows + "?" + query.toString(), { credentials: "same-origin", cache: "no-store" });
      } catch (e) {
        live.textContent = "Live updates paused: the emulator is not answering. Retrying…";
        await pause(3000);
        continue;
      }
      const newest = resp.headers.get("X-Console-Newest");
      if (resp.status === 200) {
        insert(await resp.text());
      } else if (resp.status !== 204) {
        await pause(3000);
      }
      if (newest) {
        after = newest;
      }
    }
  }

  function insert(html) {
    const before = body.rows.length;
    body.insertAdjacentHTML("afterbegin", html);
    const count = body.rows.length - before;
    for (let i = 0; i < count; i++) {
      body.rows[i].classList.add("fresh");
    }
    while (body.rows.length > maxRows) {
      body.deleteRow(body.rows.length - 1);
    }
    const empty = document.getElementById("empty");
    if (empty) {
      empty.remove();
    }
    added += count;
    if (shown) {
      shown.textContent = String(body.rows.length);
    }
    live.textContent = added === 1 ? "1 new request arrived." : added + " new requests arrived.";
  }

  poll();
})();
