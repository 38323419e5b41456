/* `agentvm mcp`: an MCP server on stdin/stdout (newline-delimited JSON-RPC
 * 2.0) whose tools run commands, move files and drive a browser in sandboxes.
 * Logs go to stderr only; stdout carries nothing but protocol messages. */
#ifndef AGENTVM_HOST_MCP_MCP_H
#define AGENTVM_HOST_MCP_MCP_H

/* The subcommand: argv[0] is "mcp". Returns the exit status (0 when the
 * client closed the session, 2 for bad usage or a bad policy, 125 when the
 * server could not start). */
int mcp_main(int argc, char **argv);

#endif
