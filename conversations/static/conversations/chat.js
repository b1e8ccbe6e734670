// The built-in chat page: REST (/api/...) for engine types and past conversations, the /ws WebSocket for chatting.
// Protocol: docs/websocket-protocol.md. No framework, no build step.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const engineSelect = $("engine");
  const list = $("conversations");
  const messages = $("messages");
  const input = $("input");
  const sendButton = $("send");
  const stopButton = $("stop");
  const statusLine = $("status");
  const titleLine = $("title");

  let socket = null;
  let conversationId = null;
  let streaming = null; // {element, text} of the answer being streamed

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error-text" : "";
  }

  function setStreaming(on) {
    sendButton.disabled = on;
    stopButton.disabled = !on;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + " → " + response.status);
    return response.json();
  }

  function addMessage(role, text, status) {
    const element = document.createElement("div");
    element.className = "message " + role + (status && status !== "complete" ? " " + status : "");
    element.dataset.role = role;
    element.textContent = text;
    messages.appendChild(element);
    messages.scrollTop = messages.scrollHeight;
    return element;
  }

  async function loadEngines() {
    const data = await getJson("/api/prompts");
    engineSelect.innerHTML = "";
    for (const prompt of data.prompts || []) {
      const option = document.createElement("option");
      option.value = prompt.engineType;
      option.textContent = prompt.name ? prompt.engineType + " · " + prompt.name : prompt.engineType;
      engineSelect.appendChild(option);
    }
  }

  async function loadConversations() {
    if (!engineSelect.value) return;
    let data;
    try {
      data = await getJson("/api/conversations?engineType=" + encodeURIComponent(engineSelect.value));
    } catch (error) {
      setStatus("could not load conversations", true);
      return;
    }
    list.innerHTML = "";
    for (const conversation of data.conversations || []) {
      const item = document.createElement("li");
      item.textContent = conversation.title || conversation.conversationId;
      item.dataset.id = conversation.conversationId;
      item.className = conversation.conversationId === conversationId ? "active" : "";
      item.addEventListener("click", () => openConversation(conversation.conversationId));
      list.appendChild(item);
    }
  }

  async function openConversation(id) {
    const data = await getJson("/api/conversations/" + encodeURIComponent(id));
    conversationId = id;
    titleLine.textContent = data.title || "Untitled";
    messages.innerHTML = "";
    for (const message of data.messages || []) addMessage(message.role, message.content, message.status);
    for (const item of list.children) item.className = item.dataset.id === id ? "active" : "";
  }

  function newChat() {
    conversationId = null;
    messages.innerHTML = "";
    titleLine.textContent = "New chat";
    for (const item of list.children) item.className = "";
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.addEventListener("open", () => setStatus("connected"));
    socket.addEventListener("close", (event) => {
      setStatus("disconnected (" + event.code + ")", true);
      setStreaming(false);
      if (event.code !== 4401 && event.code !== 4403) setTimeout(connect, 2000);
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  }

  function handle(frame) {
    switch (frame.type) {
      case "ai_start":
        conversationId = frame.conversationId;
        streaming = { element: addMessage("assistant", ""), text: "" };
        setStatus("answering…");
        break;
      case "ai_chunk":
        if (!streaming) streaming = { element: addMessage("assistant", ""), text: "" };
        streaming.text += frame.chunk;
        streaming.element.textContent = streaming.text;
        messages.scrollTop = messages.scrollHeight;
        break;
      case "chat_end":
        if (streaming && frame.stopped) streaming.element.classList.add("stopped");
        streaming = null;
        setStreaming(false);
        setStatus(frame.stopped ? "stopped" : "done");
        loadConversations();
        break;
      case "title":
        if (frame.conversationId === conversationId) titleLine.textContent = frame.title;
        loadConversations();
        break;
      case "history_cleared":
        messages.innerHTML = "";
        break;
      case "error":
        if (streaming) streaming.element.classList.add("error");
        streaming = null;
        setStreaming(false);
        setStatus("error: " + (frame.message || frame.code) + " [" + frame.code + "]", true);
        break;
    }
  }

  function send(event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (!conversationId) conversationId = engineSelect.value + "_" + Date.now();
    addMessage("user", text);
    socket.send(
      JSON.stringify({
        action: "sendMessage",
        message: text,
        engineType: engineSelect.value,
        conversationId: conversationId,
        idempotencyKey: newId(),
      })
    );
    input.value = "";
    setStreaming(true);
    setStatus("sending…");
  }

  $("composer").addEventListener("submit", send);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) send(event);
  });
  stopButton.addEventListener("click", () => {
    if (socket && conversationId) socket.send(JSON.stringify({ action: "stopGeneration", conversationId }));
  });
  $("new-chat").addEventListener("click", newChat);
  engineSelect.addEventListener("change", () => {
    newChat();
    loadConversations();
  });

  loadEngines()
    .then(loadConversations)
    .catch(() => setStatus("could not load engine types", true));
  connect();
})();
