/* A JSON Schema validator for the subset the MCP tools' input schemas use:
 * type (a name or a list of names), properties, required,
 * additionalProperties (false or a schema), enum, minimum, maximum,
 * minLength/maxLength (in code points), items, minItems, maxItems, and
 * minProperties/maxProperties. Other keywords (description, title, default,
 * examples) are annotations and are ignored. Values are hostile: deep nesting
 * and huge arrays are bounded, and every failure has one clear message. */
#ifndef AGENTVM_HOST_MCP_MCP_SCHEMA_H
#define AGENTVM_HOST_MCP_MCP_SCHEMA_H

#include <stddef.h>

struct json_object;

/* Validate value against schema. 0 when it conforms; -EINVAL with a message
 * such as "arguments.timeout_ms: must be at least 1" in err (what names the
 * value: "arguments"); -EINVAL with "schema: ..." if the schema itself uses a
 * form this validator does not know. */
int mcp_schema_validate(struct json_object *schema, struct json_object *value, const char *what,
			char *err, size_t err_len);

/* Is schema one this validator fully understands (an object of type
 * "object" at the root, with only known keywords and well-formed values)?
 * 0 or -EINVAL with the reason in err. Used by the tests on every tool. */
int mcp_schema_check(struct json_object *schema, char *err, size_t err_len);

#endif
