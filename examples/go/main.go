// Command spot-sso-example gets MeltingSpot tokens from spot-sso, builds the
// "from the app" link and the embed snippet.
//
// Run (from examples/go): SPOT_SSO_API_KEY=<key> go run .
// Standard library only; see ../README.md for the settings and what it prints.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

const problemPrefix = "urn:spot-sso:problem:"

// Error is spot-sso refusing a request (an RFC 9457 problem document) or not
// answering at all (Status is then 0).
type Error struct {
	Message    string
	Status     int  // the HTTP status, 0 when there was no answer
	RetryAfter *int // seconds to wait (the Retry-After header, on 429), nil if absent
}

func (e *Error) Error() string { return e.Message }

// TokenReply is the answer of POST /tokens (the fields this program uses).
type TokenReply struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expiresAt"`
	Spot      string `json:"spot"`
	SpotID    string `json:"spotId"`
}

// Client calls spot-sso with an API client's key. Keep the key on your backend.
type Client struct {
	BaseURL string // spot-sso's public_url, without a trailing slash
	APIKey  string
	HTTP    *http.Client
}

// NewClient returns a Client whose every call has a 5 s timeout.
func NewClient(baseURL, apiKey string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		APIKey:  apiKey,
		HTTP: &http.Client{
			Timeout: 5 * time.Second,
			// POST /tokens never redirects: an unexpected 3xx is reported, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// IssueToken calls POST /tokens with body (a "userId" or a "user", and
// optionally a "spot"). Any refusal is an *Error.
func (c *Client) IssueToken(body map[string]any) (*TokenReply, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	request, err := http.NewRequest(http.MethodPost, c.BaseURL+"/tokens", bytes.NewReader(payload))
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("cannot reach %s: %v", c.BaseURL, err)}
	}
	request.Header.Set("Authorization", "Bearer "+c.APIKey)
	request.Header.Set("Content-Type", "application/json")
	response, err := c.HTTP.Do(request)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("cannot reach %s: %v", c.BaseURL, err)}
	}
	defer response.Body.Close()
	data, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("cannot reach %s: %v", c.BaseURL, err)}
	}
	if response.StatusCode != http.StatusOK {
		return nil, problemError(response, data)
	}
	var reply TokenReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, &Error{
			Message: fmt.Sprintf("%d (cannot read the reply: %v)", response.StatusCode, err),
			Status:  response.StatusCode,
		}
	}
	return &reply, nil
}

// problemError is the error for a non-200 answer, named by its problem document.
func problemError(response *http.Response, data []byte) *Error {
	status := response.StatusCode
	failure := &Error{Status: status, RetryAfter: retryAfter(response.Header.Get("Retry-After"))}
	notProblem := fmt.Sprintf("%d (not a problem document)", status)
	mediaType, _, _ := strings.Cut(response.Header.Get("Content-Type"), ";")
	if strings.TrimSpace(mediaType) != "application/problem+json" {
		failure.Message = notProblem
		return failure
	}
	var problem struct {
		Type      string `json:"type"`
		Detail    string `json:"detail"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(data, &problem); err != nil {
		failure.Message = notProblem
		return failure
	}
	slug := strings.TrimPrefix(problem.Type, problemPrefix)
	message := fmt.Sprintf("%d %s: %s", status, slug, problem.Detail)
	if failure.RetryAfter != nil {
		message += fmt.Sprintf(" Retry after %d s.", *failure.RetryAfter)
	}
	failure.Message = fmt.Sprintf("%s (request %s)", message, problem.RequestID)
	return failure
}

// retryAfter reads a Retry-After header given in seconds; nil if absent or not a number.
func retryAfter(value string) *int {
	if value == "" || strings.Trim(value, "0123456789") != "" {
		return nil
	}
	seconds, err := strconv.Atoi(value)
	if err != nil {
		return nil
	}
	return &seconds
}

// AppLink is the "from the app" link: spot-sso logs the user in and opens the
// Spot's page ("events", say).
func AppLink(baseURL, spot, spotID, page string) string {
	// Built by hand rather than with url.Values.Encode, which sorts the keys:
	// the same escaping (url.QueryEscape), in the documented order.
	query := "spot=" + url.QueryEscape(spot) +
		"&referrerUrl=" + url.QueryEscape("/spot/"+spotID+"/"+page)
	return baseURL + "/authorize?" + query
}

// EmbedSnippet is the widget's installation snippet with the token as its authToken.
func EmbedSnippet(widgetScript, token string) string {
	return fmt.Sprintf(`<script src="%s" data-auth-token="%s" async></script>`,
		html.EscapeString(widgetScript), html.EscapeString(token))
}

// env is the variable's value, or fallback when it is not set at all.
func env(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

func run() int {
	apiKey := os.Getenv("SPOT_SSO_API_KEY")
	if apiKey == "" {
		fmt.Fprintln(os.Stderr, "spot-sso error: set SPOT_SSO_API_KEY to the API client's key")
		return 2
	}
	baseURL := strings.TrimRight(env("SPOT_SSO_URL", "http://127.0.0.1:8000"), "/")
	userID := env("SPOT_SSO_USER_ID", "u-ada")
	widgetScript := env("SPOT_WIDGET_SCRIPT", baseURL+"/demo/spot/widget.js")
	spot := os.Getenv("SPOT_SSO_SPOT") // needed only when the client may use several Spots
	grace := map[string]any{
		"sub":       "u-2001",
		"firstName": "Grace",
		"lastName":  "Hopper",
		"email":     "grace@example.com",
		"lang":      "en",
		"timezone":  "America/New_York",
	}
	request := func(key string, value any) map[string]any {
		body := map[string]any{key: value}
		if spot != "" {
			body["spot"] = spot
		}
		return body
	}

	client := NewClient(baseURL, apiKey)
	byID, err := client.IssueToken(request("userId", userID))
	if err == nil {
		fmt.Printf("token by userId %s: %s (expires %s)\n", userID, byID.Token, byID.ExpiresAt)
		var byUser *TokenReply
		byUser, err = client.IssueToken(request("user", grace))
		if err == nil {
			fmt.Printf("token by user %s: %s (expires %s)\n", grace["sub"], byUser.Token, byUser.ExpiresAt)
		}
	}
	if err != nil {
		// In a product, errors.As(err, &refused) with refused *Error gives
		// refused.Status and refused.RetryAfter (see ../README.md for what to do).
		fmt.Fprintf(os.Stderr, "spot-sso error: %v\n", err)
		return 1
	}
	fmt.Printf("link: %s\n", AppLink(baseURL, byID.Spot, byID.SpotID, "events"))
	fmt.Printf("embed: %s\n", EmbedSnippet(widgetScript, byID.Token))
	return 0
}

func main() {
	os.Exit(run())
}
