// Evaluates JSONata expressions over events with the reference implementation (npm `jsonata`), as a Step Functions
// JSONata state does: the execution input bound to $states.input. Reads {"expressions": [...], "events": [...]}
// on stdin; writes one row per expression, one cell per event: the value, or {"error": "..."}.
"use strict";
const jsonata = require("jsonata");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { expressions, events } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const rows = [];
  for (const text of expressions) {
    let compiled;
    try {
      compiled = jsonata(text);
    } catch (e) {
      rows.push(events.map(() => ({ error: `${e.code}: ${e.message}` })));
      continue;
    }
    const row = [];
    for (const event of events) {
      try {
        const value = await compiled.evaluate({}, { states: { input: event } });
        row.push(value === undefined ? { undefined: true } : value);
      } catch (e) {
        row.push({ error: `${e.code}: ${e.message}` });
      }
    }
    rows.push(row);
  }
  process.stdout.write(JSON.stringify(rows));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
