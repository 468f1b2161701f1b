# Clearway: the two commands a new user needs are `make demo` and `make test`.
# Both install missing Debian packages first (scripts/install-deps).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
CTEST_ARGS ?= --output-on-failure --timeout 300 -j $(JOBS)

.PHONY: all deps build build-asan test test-normal test-asan lint format tidy demo bench install clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCW_ASAN=ON -DCW_UBSAN=ON

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

lint:
	@scripts/lint

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Static analysis (STYLE.md rule 71); slower than the suite, so not part of `make test`.
tidy: build
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'gateway/*.c')

# The whole suite, twice: a normal build and an ASan+UBSan build. The output
# ends with ctest's summary of the sanitizer run.
test: deps lint build build-asan
	cd $(BUILD) && ctest $(CTEST_ARGS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

test-normal: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest $(CTEST_ARGS)

# The benchmarks of bench/README.md on this machine (a few minutes).
bench: deps build
	@BUILD=$(abspath $(BUILD)) bench/run-all

demo: deps build
	@examples/demo/run-demo $(DEMO_ARGS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
