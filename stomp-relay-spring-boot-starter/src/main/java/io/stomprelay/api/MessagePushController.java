package io.stomprelay.api;

import java.util.regex.Pattern;

import io.stomprelay.connection.DestinationSyntax;
import io.stomprelay.relay.ClusterMessagingTemplate;

import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.ErrorResponseException;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * The HTTP push API for server-side senders (admin JWT): to one user, to every subscriber, or to
 * authenticated subscribers only, on every node. Answers {@code 202 {"id"}} once the message is
 * handed to the cluster, {@code 400} problem details for a bad destination (the same
 * {@link DestinationSyntax} as STOMP frames, under {@code /queue/} or {@code /topic/}) or body.
 */
@RestController
@RequestMapping("/api/messages")
class MessagePushController {

	private static final Pattern USER_NAME = Pattern.compile("[^\\s/]{1,128}");

	private final ClusterMessagingTemplate cluster;

	MessagePushController(ClusterMessagingTemplate cluster) {
		this.cluster = cluster;
	}

	@PostMapping("/users/{user}")
	ResponseEntity<PushAccepted> toUser(@PathVariable String user, @RequestBody PushRequest request) {
		checkUser(user);
		check(request, "/queue/");
		return accepted(this.cluster.convertAndSendToUser(user, request.destination(), request.payload()));
	}

	@PostMapping("/all")
	ResponseEntity<PushAccepted> toAll(@RequestBody PushRequest request) {
		check(request, "/topic/");
		return accepted(this.cluster.convertAndSend(request.destination(), request.payload()));
	}

	@PostMapping("/authenticated")
	ResponseEntity<PushAccepted> toAuthenticated(@RequestBody PushRequest request) {
		check(request, "/topic/");
		return accepted(this.cluster.convertAndSendToAuthenticated(request.destination(), request.payload()));
	}

	/** Refuses a user name no session could have, with problem details. */
	static void checkUser(String user) {
		if (!USER_NAME.matcher(user).matches()) {
			throw badRequest("Invalid user", "The user name must be 1 to 128 characters without spaces or '/'.");
		}
	}

	private static void check(PushRequest request, String prefix) {
		if (!DestinationSyntax.isValid(request.destination(), prefix)) {
			throw badRequest("Invalid destination", "The destination must look like " + prefix
					+ "name, with letters, digits, '-', '_', '.' or '/' segments, at most " + DestinationSyntax.MAX_LENGTH
					+ " characters.");
		}
		if (request.payload() == null || request.payload().isNull() || request.payload().isMissingNode()) {
			throw badRequest("Missing payload", "The body must contain a JSON \"payload\".");
		}
	}

	static ResponseEntity<PushAccepted> accepted(String id) {
		return ResponseEntity.status(HttpStatus.ACCEPTED).body(new PushAccepted(id));
	}

	private static ErrorResponseException badRequest(String title, String detail) {
		ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, detail);
		problem.setTitle(title);
		return new ErrorResponseException(HttpStatus.BAD_REQUEST, problem, null);
	}

}
