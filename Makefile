# Herold's few make targets. `make test` is the one test command CI runs.

.PHONY: test build dev readme-config

test:
	./scripts/test

build:
	CGO_ENABLED=0 go build -trimpath -o bin/herold ./cmd/herold

dev:
	go run ./cmd/herold dev

# Regenerate the configuration table in README.md from the code.
readme-config:
	./scripts/readme-config
