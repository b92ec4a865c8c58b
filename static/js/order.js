// The order page polls the shop's own status endpoint until the order settles. A late webhook is normal:
// while the order is pending the page keeps polling and, after a while, says it is still confirming the
// payment. A failed poll is never shown as an error; it is retried.
const section = document.getElementById("order-status");
const text = section.querySelector(".status-text");
const next = section.querySelector(".next-steps");
const WORDS = JSON.parse(section.dataset.words);
const SLOW_AFTER = Number(section.dataset.slowAfter) || 20000;
const SETTLED = new Set(["fulfilled", "payment_failed", "refunded", "canceled"]);
const HAPPY = ["pending", "paid", "fulfilled"];
const started = Date.now();
let slow = false;

function say(key) {
  const [headline, detail] = WORDS[key] || [key, ""];
  if (text.textContent !== headline) text.textContent = headline;
  next.textContent = detail;
}

function render(state) {
  const previous = section.dataset.state;
  if (state === previous) return;
  if (!HAPPY.includes(state) || !HAPPY.includes(previous)) {
    window.location.reload(); // a different shape of timeline (failed, refunded): let the server draw it
    return;
  }
  section.dataset.state = state;
  say(state);
  const reached = HAPPY.indexOf(state);
  section.querySelectorAll(".timeline li").forEach((step, index) => {
    step.classList.toggle("done", index <= reached);
    step.classList.toggle("current", index === reached + 1);
    const sr = step.querySelector(".visually-hidden");
    if (sr) sr.textContent = index <= reached ? ": done" : index === reached + 1 ? ": in progress" : ": not yet";
  });
}

function checkSlow() {
  if (!slow && section.dataset.state === "pending" && Date.now() - started >= SLOW_AFTER) {
    slow = true;
    section.classList.add("slow");
    say("slow");
  }
}

async function poll(delay) {
  if (SETTLED.has(section.dataset.state)) return;
  try {
    const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) render((await response.json()).state);
  } catch {
    // a missed poll is retried below
  }
  checkSlow();
  setTimeout(() => poll(Math.min(delay * 1.5, slow ? 10000 : 5000)), delay);
}

const printButton = document.getElementById("print-receipt");
if (printButton) printButton.addEventListener("click", () => window.print());

poll(500);
