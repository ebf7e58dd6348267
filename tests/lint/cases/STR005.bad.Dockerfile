# expect: STR005:4 STR005:5 STR023:5
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
WORKDIR /srv
RUN npm ci
RUN gem install rails
USER 1000:1000
