# Guest images, built on demand and cached under $(AGENTVM_CACHE)/images/ (never
# by `make all`): each script prints its output directory.
#   make images           both images
#   make image-minimal    the agent + busybox-static (seconds)
#   make image-base       Debian bookworm + the agent (about a minute cold)
.PHONY: images image-minimal image-base

images: image-minimal image-base

# `all` builds the agent once guest-agent/main.c exists; without it the scripts
# say which binary is missing.
image-minimal: deps all
	@images/minimal/build.sh --agent $(abspath $(BIN_AGENT))

image-base: deps all
	@images/base/build.sh --agent $(abspath $(BIN_AGENT))
