# One stomp-relay node. Build the jar first: ./mvnw -DskipTests package
FROM eclipse-temurin:17-jre
RUN useradd --system --uid 10001 stomprelay
WORKDIR /app
COPY target/stomp-relay.jar /app/stomp-relay.jar
USER stomprelay
EXPOSE 8080
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/stomp-relay.jar"]
