FROM busybox
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
RUN ["echo", "exec form"]
RUN [not json
ENTRYPOINT exec /bin/app "$@"
CMD []
CMD ["a", 1]
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
USER app:app
STOPSIGNAL SIGTERM
