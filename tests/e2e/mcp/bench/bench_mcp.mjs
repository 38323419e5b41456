// Time "open a page and read it" through an MCP server, with the official
// SDK client: browser_navigate to URL, then browser_snapshot, RUNS times
// after WARMUP untimed rounds (the first one starts the browser). Prints the
// median in milliseconds on stdout; a failure goes to stderr with status 1.
//
//   node bench_mcp.mjs [--runs N] [--warmup N] [--setup JSON] [--args JSON]
//                      [--expect TEXT] URL -- COMMAND [ARG...]
// --setup is a list of [tool, arguments] calls made first (e.g. writing the
// page into a sandbox); --args is merged into both timed calls' arguments;
// --expect is text the snapshot must contain.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const argv = process.argv.slice(2);
let runs = 10, warmup = 2, setup = [], extra = {}, expect = null;
while (argv.length && argv[0].startsWith("--")) {
	const opt = argv.shift();
	if (opt === "--") break;
	const val = argv.shift();
	if (opt === "--runs") runs = Number(val);
	else if (opt === "--warmup") warmup = Number(val);
	else if (opt === "--setup") setup = JSON.parse(val);
	else if (opt === "--args") extra = JSON.parse(val);
	else if (opt === "--expect") expect = val;
	else {
		console.error(`unknown option ${opt}`);
		process.exit(2);
	}
}
const url = argv.shift();
if (argv[0] === "--") argv.shift();
const [command, ...args] = argv;
if (!url || !command) {
	console.error("usage: bench_mcp.mjs [options] URL -- COMMAND [ARG...]");
	process.exit(2);
}

const text = (r) => (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
const transport = new StdioClientTransport({ command, args, env: { ...process.env }, stderr: "pipe" });
let stderr = "";
transport.stderr?.on("data", (d) => {
	stderr = (stderr + d.toString()).slice(-4000);
});
const client = new Client({ name: "agentvm-bench", version: "1.0.0" });

async function tool(name, a) {
	const r = await client.callTool({ name, arguments: a }, undefined, { timeout: 600000 });
	if (r.isError) throw new Error(`${name}: ${text(r).slice(0, 400)}`);
	return r;
}

let status = 0;
try {
	await client.connect(transport);
	for (const [name, a] of setup) await tool(name, a);
	const times = [];
	for (let i = 0; i < warmup + runs; i++) {
		const t0 = process.hrtime.bigint();
		await tool("browser_navigate", { ...extra, url });
		const snap = await tool("browser_snapshot", { ...extra });
		const ms = Number(process.hrtime.bigint() - t0) / 1e6;
		if (expect && !text(snap).includes(expect))
			throw new Error(`the snapshot lacks "${expect}": ${text(snap).slice(0, 300)}`);
		if (i >= warmup) times.push(ms);
	}
	times.sort((a, b) => a - b);
	const mid = times.length >> 1;
	const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
	console.log(median.toFixed(1));
} catch (e) {
	console.error(`${e.message}${stderr ? `\nserver stderr: ${stderr.split("\n").slice(-5).join(" | ")}` : ""}`);
	status = 1;
}
try {
	await client.close();
} catch {
	/* the server may be gone already */
}
process.exit(status);
