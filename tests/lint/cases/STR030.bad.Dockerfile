# expect: STR030:2
FROM debian
USER 1000:1000
