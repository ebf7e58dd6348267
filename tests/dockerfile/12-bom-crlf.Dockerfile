#  escape = \
FROM alpine
RUN echo crlf \
  continued
CMD ["sh"]
