# The "browser" guest image: base + Debian's chromium and fonts (built on
# demand, cached like the others; prints its directory).
.PHONY: image-browser

image-browser: deps all
	@images/browser/build.sh --agent $(abspath $(BIN_AGENT))
