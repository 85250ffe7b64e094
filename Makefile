# Herold's few make targets. `make test` is the one test command CI runs.

.PHONY: test build image dev readme-config compose-check

# Stamped into the binary, so `herold version` names the build. The
# Dockerfile takes the same two as build arguments.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

test:
	./scripts/test

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/herold ./cmd/herold

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t herold .

# Checks docker-compose.yml, the Dockerfile, this Makefile and the CI workflow
# without a Docker daemon (make test runs the same tests).
compose-check:
	go test -count=1 -run '^TestDeploy' ./cmd/herold

dev:
	go run ./cmd/herold dev

# Regenerate the configuration table in README.md from the code.
readme-config:
	./scripts/readme-config
