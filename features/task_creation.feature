# language: zh-TW
功能: 任務建立
  作為開發者
  我想要建立新的任務
  為了啟動異步處理流程

  場景: 成功建立任務
    假設 我有有效的任務資訊
    當 我發送 POST 請求到 "/api/v1/tasks"
    那麼 回應狀態碼應該是 201
    而且 回應應該包含任務 ID
    而且 任務應該被加入到 Queue

  場景: 建立任務時缺少必要欄位
    假設 我的任務資訊缺少 callbackUrl
    當 我發送 POST 請求到 "/api/v1/tasks"
    那麼 回應狀態碼應該是 400
    而且 錯誤訊息應該指出缺少的欄位

  場景大綱: 建立任務時欄位不合規則
    假設 我有有效的任務資訊
    而且 任務資訊的 <欄位> 是 <值>
    當 我發送 POST 請求到 "/api/v1/tasks"
    那麼 回應狀態碼應該是 400
    而且 錯誤訊息應該指出欄位 <欄位>

    例子:
      | 欄位        | 值                          |
      | name        | "   "                       |
      | name        | 201 個字元的字串            |
      | description | 2001 個字元的字串           |
      | callbackUrl | "ftp://127.0.0.1/hook"      |
      | callbackUrl | "/relative/hook"            |
      | callbackUrl | "http://user:pw@127.0.0.1/" |
      | priority    | 10                          |
      | priority    | -1                          |
      | priority    | true                        |
