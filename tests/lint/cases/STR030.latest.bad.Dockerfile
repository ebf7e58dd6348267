# expect: STR030:3
ARG BASE=debian:latest
FROM $BASE
USER 1000:1000
