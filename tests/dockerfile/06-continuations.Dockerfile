FROM alpine

RUN echo one \
    # a comment inside the continuation
    two \

    three \
	four

# comment between instructions
  RUN   echo indented    
RUN echo "trailing backslash then blanks" \   
    done
EXPOSE 80 \
    443/tcp 53/udp
