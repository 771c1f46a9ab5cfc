"""The fleet agent moved to ``responders.fleet_agent`` (issue 16: host code lives on the
responder side). This package stays only for the demo's ``formats`` import until the demo
package (issue 16b) imports ``responders.fleet_agent.formats`` itself."""
