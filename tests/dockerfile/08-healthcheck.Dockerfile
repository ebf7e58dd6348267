FROM nginx
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 \
  CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["wget", "-q", "-O-", "http://localhost/"]
HEALTHCHECK NONE
