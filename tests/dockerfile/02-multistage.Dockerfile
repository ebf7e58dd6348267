# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG BASE
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS Builder
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,source=.,target=/src \
    --network=none \
    go build -o /out/app ./cmd/app

from ${BASE:-gcr.io/distroless/static} as final
copy --from=builder --chown=65532:65532 --chmod=0755 --link /out/app /usr/local/bin/app
COPY --from=0 /etc/passwd /etc/passwd
COPY --from=alpine:3.20 /bin/busybox /bin/
ENTRYPOINT ["/usr/local/bin/app"]
