# Thin wrapper: every target installs what is missing, then drives CMake.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build run test test-deploy bench clean soak fuzz test-asan test-tsan

deps:
	@scripts/install-deps.sh

build: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) CMAKE_FLAGS="$(CMAKE_FLAGS)" scripts/build.sh

run: build
	@scripts/run.sh

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Only the deployment tests (label deploy, part of make test): images,
# chart, systemd units; see docs/OPERATIONS.md, "Testing the deployment files".
test-deploy: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L deploy

# The crash, kill and fuzz tests with ten times the cuts, cycles and time.
soak: deps build
	@cd $(BUILD) && WB_CUTS_MULTIPLIER=10 ctest --output-on-failure -j $(JOBS) -L 'crash|kill|fuzz'

# libFuzzer (clang, ASan) on recovery for FUZZ_SECONDS; see docs/TESTING.md.
FUZZ_SECONDS ?= 600
FUZZ_BUILD ?= build-fuzz
fuzz: deps
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh $(FUZZ_SECONDS)

ASAN_BUILD ?= build-asan
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_SANITIZE=address $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@# The index's RSS bound measures ASan's shadow memory there; make test holds it.
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1800 -E '^IndexMemoryTest'

# The multi-threaded suites: the core's, the crash harness's and kill, on
# an abseil built with TSan from Debian's source (cached in the build dir).
# Only the core is built: gRPC links Debian's uninstrumented abseil. The
# index's RSS bound would measure TSan's shadow memory; make test holds it.
TSAN_BUILD ?= build-tsan
test-tsan: deps
	@JOBS=$(JOBS) scripts/build-tsan-abseil.sh $(abspath $(TSAN_BUILD))/abseil-tsan
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_SANITIZE=thread \
	  -DWB_CORE_ONLY=ON -Dabsl_DIR=$(abspath $(TSAN_BUILD))/abseil-tsan/lib/cmake/absl $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp)" \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -L 'core|crash|kill' -E '^IndexMemoryTest'

bench: build
	@BUILD=$(BUILD) bench/run.py

clean:
	rm -rf $(BUILD)
