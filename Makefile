# Herold's few make targets. `make test` is the one test command CI runs.

.PHONY: test build dev

test:
	./scripts/test

build:
	CGO_ENABLED=0 go build -trimpath -o bin/herold ./cmd/herold

dev:
	go run ./cmd/herold dev
