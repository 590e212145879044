// Injected by tests/it/browser.rs at the end of a page under test (never shipped in a report).
// After the page has loaded and drawn, it checks that the text of every SVG is only what the
// picture shows: each visible <text> lies inside its SVG's viewport and overlaps no other text of
// that SVG. It writes the result, with the errors the head hook collected, into
// <pre id="locklab-check"> for `chromium --dump-dom` to print.
window.addEventListener("load", () => setTimeout(() => {
  const problems = [];
  let texts = 0;
  const words = [];
  const svgs = [...document.querySelectorAll("svg")];
  svgs.forEach((svg, si) => {
    const s = svg.getBoundingClientRect();
    const list = [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim() !== "" && t.getClientRects().length > 0);
    const boxes = list.map((t) => t.getBoundingClientRect());
    texts += list.length;
    list.forEach((t) => words.push(t.textContent));
    boxes.forEach((b, i) => {
      const name = JSON.stringify(list[i].textContent);
      if (b.left < s.left - 0.5 || b.right > s.right + 0.5 || b.top < s.top - 0.5 || b.bottom > s.bottom + 0.5) {
        problems.push(`svg ${si}: ${name} is outside the picture (${Math.round(b.left - s.left)}..${Math.round(b.right - s.left)} of ${Math.round(s.width)} px)`);
      }
      for (let j = 0; j < i; j++) {
        const c = boxes[j];
        const ox = Math.min(b.right, c.right) - Math.max(b.left, c.left);
        const oy = Math.min(b.bottom, c.bottom) - Math.max(b.top, c.top);
        if (ox > 1 && oy > 1) problems.push(`svg ${si}: ${name} overlaps ${JSON.stringify(list[j].textContent)}`);
      }
    });
  });
  // The interactive timeline (index.html), if one is open: hover an item, then zoom with the wheel.
  const interaction = {};
  const tl = document.querySelector("svg.tl");
  if (tl) {
    const item = tl.querySelector("rect[data-h][rx]");
    const r = item.getBoundingClientRect();
    item.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: r.left + 1, clientY: r.top + 1 }));
    const tip = document.getElementById("tip");
    interaction.hover = tip.hidden ? "" : tip.textContent;
    const axis = () => [...tl.querySelectorAll("text")].map((t) => t.textContent).join("|");
    const before = axis();
    const box = tl.getBoundingClientRect();
    for (let i = 0; i < 4; i++) tl.dispatchEvent(new WheelEvent("wheel", { bubbles: true, cancelable: true, deltaY: -100, clientX: box.left + box.width / 2, clientY: box.top + 20 }));
    interaction.zoomed = axis() !== before;
  }
  const pre = document.createElement("pre");
  pre.id = "locklab-check";
  pre.textContent = JSON.stringify({ errors: window.__locklabErrors || ["the error hook did not run"], svgs: svgs.length, texts, words, problems, interaction });
  document.body.appendChild(pre);
}, 300));
