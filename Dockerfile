# Herold: a static binary on a distroless base, running as a non-root user.
#
#   docker build -t herold .          # or: make image (stamps version and commit)
#   docker run --rm herold version
#
# Build stage: the Go toolchain of go.mod's major version.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# `herold version` shows these (make image passes them). Left empty, Go takes
# the commit and a pseudo-version from the .git folder in the build context.
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/herold ./cmd/herold \
 && mkdir -p /out/data/outbox

# Final stage: no shell, no package manager; CA certificates and tzdata included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herold /usr/local/bin/herold
# The working folder holds the outbox of channels without a provider; owned by
# the nonroot user (65532) so a volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/herold
WORKDIR /var/lib/herold
ENV HEROLD_HTTP_ADDR=0.0.0.0:8080 \
    HEROLD_OUTBOX_DIR=/var/lib/herold/outbox
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/herold"]
CMD ["serve"]
