# expect: STR031:2
FROM debian:12-slim
USER 1000:1000
