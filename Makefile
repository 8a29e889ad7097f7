# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?=
# The image's CPU architecture: amd64, or arm64 (generic UEFI boards and the Raspberry Pi 4).
ARCH ?= amd64
IMAGE_TESTS := $(if $(filter arm64,$(ARCH)),tests/system/test_image_arm64.py,tests/system/test_image.py)

.PHONY: setup system-deps demo test soak lint bench clean image image-test release

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgebox demo $(DEMO_ARGS)

system-deps:
	tools/system-deps

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/import-cycles
	$(BIN)/python -m pytest

# The long runs behind make test's short ones; each prints its figures (see README).
soak: $(STAMP)
	$(BIN)/python bench/powercuts.py --cuts 200
	$(BIN)/python bench/powercuts.py --cuts 200 --cloud --seed 2
	$(BIN)/python bench/fuzz.py --examples 100

# One venue's disk image and signed RAUC bundle, from Debian packages (as root): out/<venue>.img
# and out/<venue>.raucb; the signing files come from EDGEBOX_SIGNING_CERT / _KEY / EDGEBOX_KEYRING
image: $(STAMP)
	@test -n "$(VENUE)" || { echo "usage: make image VENUE=path/to/venue.toml [ARCH=arm64]" >&2; exit 2; }
	tools/system-deps image
	$(BIN)/python -m image build --arch $(ARCH) $(VENUE)

# Adds the venue's signed bundle to an update channel directory (the boxes poll its URL); signing
# files from EDGEBOX_SIGNING_CERT / _KEY / EDGEBOX_KEYRING, rollout from ROLLOUT (percent);
# CHUNKS=no publishes the whole bundle only.
ROLLOUT ?= 100
CHUNKS ?= yes
release: $(STAMP)
	@test -n "$(VENUE)" -a -n "$(CHANNEL)" || { echo "usage: make release VENUE=venue.toml CHANNEL=dir/ [ROLLOUT=10] [CHUNKS=no]" >&2; exit 2; }
	$(BIN)/python -m image publish $(VENUE) $(CHANNEL) --rollout $(ROLLOUT) $(if $(filter no,$(CHUNKS)),--no-chunks)

# Builds an image and boots it in qemu: serving, kill -9, a power cut, an update and a rollback.
# ARCH=arm64: the arm64 image on qemu's virt machine, serving and kill -9 (software emulation).
image-test: $(STAMP)
	tools/system-deps image
	$(BIN)/python -m pytest -m image -s $(IMAGE_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/import-cycles

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
