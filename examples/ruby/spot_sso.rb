# frozen_string_literal: true

# Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.
#
# Run: SPOT_SSO_API_KEY=<key> ruby examples/ruby/spot_sso.rb  (Ruby 3.1+, standard library only)

require 'erb'
require 'json'
require 'net/http'
require 'uri'

PROBLEM_PREFIX = 'urn:spot-sso:problem:'
TIMEOUT_SECONDS = 5

# What "no answer at all" looks like in net/http: refused or reset connections, unknown
# hosts, timeouts (Net::OpenTimeout, Net::ReadTimeout...), TLS and protocol failures.
NO_ANSWER = [
  SocketError, SystemCallError, IOError, Timeout::Error,
  OpenSSL::SSL::SSLError, Net::HTTPBadResponse, Net::ProtocolError
].freeze

# spot-sso refused the request: an RFC 9457 problem document, or no answer at all.
class SpotSsoError < StandardError
  attr_reader :status, :retry_after # retry_after: seconds to wait, on 429

  def initialize(message, status: nil, retry_after: nil)
    super(message)
    @status = status
    @retry_after = retry_after
  end
end

# `POST /tokens`: the reply (`token`, `expiresAt`, `spot`, `spotId`...).
def issue_token(base_url, api_key, body)
  uri = URI("#{base_url}/tokens")
  request = Net::HTTP::Post.new(uri, 'Authorization' => "Bearer #{api_key}",
                                     'Content-Type' => 'application/json',
                                     'Accept' => 'application/json')
  request.body = JSON.generate(body)
  begin
    response = Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == 'https',
                                                   open_timeout: TIMEOUT_SECONDS,
                                                   read_timeout: TIMEOUT_SECONDS,
                                                   write_timeout: TIMEOUT_SECONDS) do |http|
      http.request(request)
    end
  rescue *NO_ANSWER => e
    raise SpotSsoError, "cannot reach #{base_url}: #{e.class}: #{e.message}".gsub(/\s+/, ' ')
  end
  return JSON.parse(response.body) if response.code == '200'

  raise problem_error(response)
end

# The error for a non-200 answer, named by its problem document.
def problem_error(response)
  status = response.code.to_i
  retry_header = response['Retry-After'].to_s
  retry_after = retry_header.match?(/\A\d+\z/) ? retry_header.to_i : nil
  media_type = response['Content-Type'].to_s.split(';').first.to_s.strip
  not_problem = SpotSsoError.new("#{status} (not a problem document)", status: status, retry_after: retry_after)
  return not_problem unless media_type == 'application/problem+json'

  begin
    problem = JSON.parse(response.body.to_s)
  rescue JSON::ParserError
    return not_problem
  end
  return not_problem unless problem.is_a?(Hash)

  slug = problem.fetch('type', '').to_s.delete_prefix(PROBLEM_PREFIX)
  message = "#{status} #{slug}: #{problem.fetch('detail', '')}"
  message += " Retry after #{retry_after} s." unless retry_after.nil?
  SpotSsoError.new("#{message} (request #{problem['requestId']})", status: status, retry_after: retry_after)
end

# The "from the app" link: spot-sso logs the user in and opens the Spot's `page`.
def app_link(base_url, spot, spot_id, page = 'events')
  query = URI.encode_www_form('spot' => spot, 'referrerUrl' => "/spot/#{spot_id}/#{page}")
  "#{base_url}/authorize?#{query}"
end

# The widget's installation snippet with the token as its `authToken`.
def embed_snippet(widget_script, token)
  %(<script src="#{ERB::Util.html_escape(widget_script)}" ) +
    %(data-auth-token="#{ERB::Util.html_escape(token)}" async></script>)
end

def main
  api_key = ENV.fetch('SPOT_SSO_API_KEY', '')
  if api_key.empty?
    warn "spot-sso error: set SPOT_SSO_API_KEY to the API client's key"
    return 2
  end
  base_url = ENV.fetch('SPOT_SSO_URL', 'http://127.0.0.1:8000').sub(%r{/+\z}, '')
  user_id = ENV.fetch('SPOT_SSO_USER_ID', 'u-ada')
  widget_script = ENV.fetch('SPOT_WIDGET_SCRIPT', "#{base_url}/demo/spot/widget.js")
  spot = ENV.fetch('SPOT_SSO_SPOT', '').empty? ? {} : { 'spot' => ENV.fetch('SPOT_SSO_SPOT') }
  grace = {
    'sub' => 'u-2001',
    'firstName' => 'Grace',
    'lastName' => 'Hopper',
    'email' => 'grace@example.com',
    'lang' => 'en',
    'timezone' => 'America/New_York'
  }
  begin
    by_id = issue_token(base_url, api_key, spot.merge('userId' => user_id))
    puts "token by userId #{user_id}: #{by_id['token']} (expires #{by_id['expiresAt']})"
    by_user = issue_token(base_url, api_key, spot.merge('user' => grace))
    puts "token by user #{grace['sub']}: #{by_user['token']} (expires #{by_user['expiresAt']})"
  rescue SpotSsoError => e
    warn "spot-sso error: #{e.message}"
    return 1
  end
  puts "link: #{app_link(base_url, by_id['spot'], by_id['spotId'])}"
  puts "embed: #{embed_snippet(widget_script, by_id['token'])}"
  0
end

exit(main) if $PROGRAM_NAME == __FILE__
